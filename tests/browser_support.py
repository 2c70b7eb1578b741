"""Shared machinery for the browser tests: Debian's Chromium driven by Playwright's async API,
pages watched for console errors and CSP violations, and a TCP proxy that a test can cut.

Chromium is started here (headless, `/usr/bin/chromium`) and Playwright attaches to it over CDP
with `no_defaults=True`. `playwright.chromium.launch(executable_path=...)` would be simpler, but
Playwright then emulates focus on every page, which keeps every page "visible": a tab switch
could never fire `visibilitychange`. Attached this way, the browser's own (default) context
behaves as a person's browser does: opening a tab hides the one behind it, `bring_to_front`
shows it again, and blur and focus follow. Contexts made with `browser.new_context()` keep
Playwright's defaults (every page focused and visible), which suits an admin's dashboard.

Nothing here downloads a browser, and nothing is skipped: without Chromium or Playwright the
tests fail and say to run `make test`, which installs both.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.support import serving

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
_README_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def screenshot_path(name: str) -> Path:
    """Where a test saves a picture of a page: `docs/screenshots` when VIGIL_SCREENSHOTS=1 (to
    refresh the README's), else a temporary folder, so a test run leaves the tree as it was."""
    folder = (
        _README_SCREENSHOTS
        if os.environ.get("VIGIL_SCREENSHOTS") == "1"
        else Path(tempfile.gettempdir()) / "vigil-screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


# The flags the browser tests agreed on; the webcam is Chromium's fake device (a moving test
# pattern), granted without a prompt, so the page's getUserMedia path is the real one.
CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Below: what running it ourselves needs (Playwright's launch would add its own).
    "--headless",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to the profile
    "--password-store=basic",  # no keyring daemon to ask
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    "--window-size=1280,800",
)
_INSTALL_HINT = "run `make test`, which installs Playwright and Debian's chromium"
# Registered on every context: a CSP violation becomes a console error, which PageWatch sees.
_REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` in ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


@dataclass
class Chromium:
    browser: Browser
    tabs: BrowserContext
    """The browser's default context: real tab visibility and focus (see the module doc)."""

    async def new_context(self, **options: Any) -> BrowserContext:
        """An isolated context (own storage) with Playwright's defaults; CSP violations reported."""
        context = await self.browser.new_context(**options)
        await context.add_init_script(script=_REPORT_CSP)
        return context


def _require_browser() -> None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"Playwright for Python is not installed ({exc}); {_INSTALL_HINT}")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; {_INSTALL_HINT}")


@asynccontextmanager
async def launch_chromium(extra_args: tuple[str, ...] = ()) -> AsyncIterator[Chromium]:
    """Debian's Chromium, headless, with Playwright attached; stopped on exit. `extra_args`:
    more flags (`--use-file-for-fake-audio-capture=...` for tests/test_browser_media.py)."""
    _require_browser()
    from playwright.async_api import async_playwright

    profile = Path(tempfile.mkdtemp(prefix="vigil-chromium-"))
    log_path = profile / "chromium.log"
    try:
        with log_path.open("wb") as log:
            process = await anyio.open_process(
                [
                    str(CHROMIUM),
                    *CHROMIUM_ARGS,
                    *extra_args,
                    f"--user-data-dir={profile / 'data'}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its helper processes share a group we can end
            )
        try:
            endpoint = await _devtools_endpoint(profile / "data", process, log_path)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.connect_over_cdp(
                    endpoint, no_defaults=True, is_local=True, timeout=20_000
                )
                try:
                    tabs = browser.contexts[0]
                    await tabs.add_init_script(script=_REPORT_CSP)
                    yield Chromium(browser, tabs)
                finally:
                    with anyio.move_on_after(10, shield=True):
                        await browser.close()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
    finally:
        with anyio.CancelScope(shield=True):
            await _remove(profile)


async def _devtools_endpoint(data_dir: Path, process: anyio.abc.Process, log_path: Path) -> str:
    """Chromium writes its DevTools port and path to `DevToolsActivePort` once it listens."""
    port_file = anyio.Path(data_dir / "DevToolsActivePort")
    with anyio.fail_after(30):
        while True:
            if process.returncode is not None:
                log = await anyio.Path(log_path).read_text(errors="replace")
                raise AssertionError(
                    f"{CHROMIUM} exited with {process.returncode} before listening; its log:\n"
                    f"{log[-3000:]}\n({_INSTALL_HINT})"
                )
            lines = (await port_file.read_text()).splitlines() if await port_file.exists() else []
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            await anyio.sleep(0.02)


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(5):
            await process.wait()
    with contextlib.suppress(ProcessLookupError):
        # What is left of the group we started (renderer, GPU and utility processes).
        os.killpg(process.pid, signal.SIGKILL)
    await process.aclose()


async def _remove(profile: Path) -> None:
    """Chromium's helpers may still be writing to the profile for a moment after it exits."""
    for _ in range(50):
        try:
            await anyio.to_thread.run_sync(shutil.rmtree, profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            await anyio.sleep(0.1)
    shutil.rmtree(profile, ignore_errors=True)


# --- watching pages ----------------------------------------------------------------------


@dataclass
class PageWatch:
    """Collects console errors, uncaught exceptions and CSP violations of the pages it opens;
    `assert_clean()` fails the test on any that was not expressly allowed."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (a regex), e.g. a socket refused on purpose."""
        self.allowed.append(re.compile(pattern))

    def watch(self, page: Page) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location.get("url", "")
                self.problems.append(f"console error: {message.text} ({where})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("crash", lambda _: self.problems.append("the page crashed"))
        self.pages.append(page)
        return page

    async def open(self, context: BrowserContext, url: str | None = None) -> Page:
        """A new watched tab (in `Chromium.tabs` it hides the tab that was in front)."""
        page = self.watch(await context.new_page())
        if url is not None:
            await page.goto(url)
        return page

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]

    def assert_clean(self) -> None:
        unexpected = self.unexpected()
        assert not unexpected, "the pages reported errors:\n" + "\n".join(unexpected)

    async def close(self) -> None:
        for page in self.pages:
            if not page.is_closed():
                await page.close()
        self.pages.clear()


# --- a network that can be cut ---------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy between the browser and the server. `cut()` closes every connection through
    it, so the browser sees its sockets drop as on a network loss, and refuses new ones until
    `restore()`; with `allow_http=True` plain HTTP still passes while WebSocket upgrades are
    refused, so a page can be reloaded while its socket cannot reach the server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.up = True
        self.allow_http = False
        self.connections = 0  # accepted and forwarded, for tests that count reconnects
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self, allow_http: bool = False) -> None:
        self.up = False
        self.allow_http = allow_http
        for scope in self._scopes:
            scope.cancel()

    def restore(self) -> None:
        self.up = True

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                await self._forward(client)
            finally:
                self._scopes.discard(scope)
                with anyio.CancelScope(shield=True):
                    await client.aclose()

    async def _forward(self, client: anyio.abc.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            try:
                head += await client.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
        websocket = b"upgrade: websocket" in head.lower()
        if not self.up and (websocket or not self.allow_http):
            return  # closed at once: the browser's connection fails
        try:
            upstream = await anyio.connect_tcp("127.0.0.1", self.target_port)
        except OSError:
            return  # the server is down: so is the connection
        self.connections += 1
        try:
            await upstream.send(head)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pipe, client, upstream, tg.cancel_scope)
                tg.start_soon(_pipe, upstream, client, tg.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                await upstream.aclose()


async def _pipe(
    source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream, scope: anyio.CancelScope
) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the other side went away: the finally below ends both directions
    finally:
        scope.cancel()


@asynccontextmanager
async def cuttable_proxy(target_port: int) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    proxy.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, proxy._handle)
        try:
            yield proxy
        finally:
            proxy.cut()
            tg.cancel_scope.cancel()


# --- another origin ----------------------------------------------------------------------------


@asynccontextmanager
async def another_origin(pages: Mapping[str, str]) -> AsyncIterator[str]:
    """A second web server (an integrator's site, on its own origin) serving `pages`, a map of
    path to HTML; yields its base URL. Pages from a real server, not Playwright routes: Chromium
    blocks a routed page's sockets to 127.0.0.1 (local network access checks)."""

    def page(body: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return HTMLResponse(body)

        return endpoint

    app = Starlette(routes=[Route(path, page(body)) for path, body in pages.items()])
    async with serving(uvicorn.Config(app, lifespan="off", log_level="warning")) as port:
        yield f"http://127.0.0.1:{port}"
