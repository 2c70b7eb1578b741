"""The layers (STYLE.md, "Layers"). `actors/` is the domain: it imports only the standard library,
anyio, msgspec and numpy, and of the standard library nothing that does I/O. `app/` is rooms
stacked in layers: a room imports only rooms of its own layer or below, and no two rooms import
each other, directly or round a loop. The rules are tables, so a merge that moves a room changes
a row, not the checks."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"actors", "anyio", "msgspec", "numpy"} | set(sys.stdlib_module_names)

# Standard-library modules the domain must not import (a module or anything under it). What the
# domain needs from the outside world it asks for through the ports in actors/ports.py.
FORBIDDEN_MODULES: dict[str, str] = {
    **dict.fromkeys(
        ("sqlite3", "dbm", "shelve"), "storage belongs to app/storage (port: actors.ports.Journal)"
    ),
    **dict.fromkeys(
        ("os", "pathlib", "shutil", "tempfile", "glob", "fileinput", "filecmp", "mmap"),
        "files, the environment and processes belong to app/; settings arrive as Structs",
    ),
    **dict.fromkeys(
        ("zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib"),
        "archives and compressed files are written at the edges (app/commands, app/storage)",
    ),
    **dict.fromkeys(
        ("socket", "ssl", "select", "selectors", "socketserver", "asyncio.streams"),
        "sockets belong to app/sockets and app/http; the domain gets decoded messages",
    ),
    **dict.fromkeys(
        ("http", "urllib", "ftplib", "smtplib", "poplib", "imaplib", "xmlrpc", "wsgiref"),
        "network clients and servers belong to app/",
    ),
    "webbrowser": "opens a browser: a command's job (app/commands)",
    **dict.fromkeys(
        ("subprocess", "asyncio.subprocess", "multiprocessing", "concurrent", "signal", "pty"),
        "processes and pools belong to app/ (app/vision's pool, app/kafka's mirror process)",
    ),
    # Threads: each session's state is owned by its one task on the event loop, which is why the
    # domain has no locks; a thread there would need them. Worker threads stay at the edges.
    **dict.fromkeys(("threading", "_thread"), "one task owns each session's state, so no locks"),
    "ctypes": "native calls can do any I/O this test cannot see",
    "importlib": "a dynamic import would slip past this test",
}

# Members of allowed modules that do I/O, as they are spelt after `import asyncio` or
# `from anyio import ...`.
FORBIDDEN_MEMBERS: dict[str, str] = {
    **dict.fromkeys(
        (
            "asyncio.open_connection",
            "asyncio.open_unix_connection",
            "asyncio.start_server",
            "asyncio.start_unix_server",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
            "asyncio.to_thread",
            "anyio.connect_tcp",
            "anyio.connect_unix",
            "anyio.create_tcp_listener",
            "anyio.create_unix_listener",
            "anyio.create_udp_socket",
            "anyio.create_connected_udp_socket",
            "anyio.getaddrinfo",
            "anyio.run_process",
            "anyio.open_process",
            "anyio.open_signal_receiver",
            "anyio.to_thread",
            "anyio.to_process",
            "anyio.from_thread",
        ),
        "sockets, processes and threads belong to app/",
    ),
    **dict.fromkeys(
        ("anyio.open_file", "anyio.wrap_file", "anyio.Path", "io.open", "io.FileIO"),
        "files belong to app/",
    ),
}
FORBIDDEN_BUILTINS: dict[str, str] = {
    "open": "files belong to app/",
    "input": "the domain never reads the terminal",
    "print": "the domain logs through `logging`; handlers are the edges' business",
    "breakpoint": "a debugger left in the domain stops the server",
    "__import__": "a dynamic import would slip past this test",
}

# The rooms of app/, top layer first: a room may import its own layer and the layers below it.
# A room is a package of app/ or a module at its top; "app" is app/__init__.py (`__version__`).
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("entry point", frozenset({"__main__"})),
    ("commands", frozenset({"commands"})),
    ("composition root", frozenset({"server"})),
    # What the process runs around its services: the GC pacer, master-key reload on SIGHUP.
    ("process", frozenset({"process"})),
    ("sockets and HTTP", frozenset({"http", "sockets"})),
    ("sessions and access", frozenset({"sessions", "access"})),
    ("outside systems", frozenset({"kafka", "vision", "webhooks", "audio"})),
    ("storage", frozenset({"storage"})),
    ("telemetry", frozenset({"telemetry"})),
    ("importable by all", frozenset({"settings", "app"})),
    ("domain", frozenset({"actors"})),
)

# Imports the tree makes against the layers, importer module -> imported module, each with why:
# none today. A row may be added only with a reason, and must go when its import goes.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


ROOM_LAYER: dict[str, int] = {room: n for n, (_, rooms) in enumerate(LAYERS) for room in rooms}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> Iterator[tuple[str, list[str], int]]:
    """Every import in a file, wherever it is (functions, TYPE_CHECKING blocks: a type-only
    import still ties the layers): the absolute module, the names taken from it, the line."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            yield target, [alias.name for alias in node.names], node.lineno


def imported_roots(path: Path) -> set[str]:
    """The top-level packages a file imports absolutely."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def row_of(name: str, table: dict[str, str]) -> str | None:
    """The row of `table` that `name` is or lies under (`asyncio.streams` for
    `asyncio.streams.StreamReader`), if any."""
    parts = name.split(".")
    prefixes = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
    return next((prefix for prefix in prefixes if prefix in table), None)


def io_uses(path: Path) -> list[str]:
    """The I/O a domain module does or imports, as "line: what (why)"."""
    found = set()
    local: dict[str, str] = {}  # a name bound by `import x` or `import x as y` -> the module
    for target, names, line in imports(path, path.parent):
        if not names:
            local[target.split(".")[0]] = target.split(".")[0]
        for name in [target, *(f"{target}.{n}" for n in names)]:
            if (row := row_of(name, FORBIDDEN_MODULES)) is not None:
                found.add(f"{line}: import {name} ({FORBIDDEN_MODULES[row]})")
                break  # `from os import path` is one use, of os
            if name in FORBIDDEN_MEMBERS:
                found.add(f"{line}: {name} ({FORBIDDEN_MEMBERS[name]})")
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            local.update({a.asname: a.name for a in node.names if a.asname})
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            member = f"{local.get(node.value.id, node.value.id)}.{node.attr}"
            if member in FORBIDDEN_MEMBERS:
                found.add(f"{node.lineno}: {member} ({FORBIDDEN_MEMBERS[member]})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if (why := FORBIDDEN_BUILTINS.get(node.func.id)) is not None:
                found.add(f"{node.lineno}: {node.func.id}() ({why})")
    return sorted(found, key=lambda text: int(text.split(":")[0]))


def room_of(module: str) -> str | None:
    """`app.http.routes.events` -> "http", `app.server` -> "server", `actors.x` -> "actors";
    None outside the project."""
    top, _, rest = module.partition(".")
    if top == "actors":
        return "actors"
    return (rest.partition(".")[0] or "app") if top == "app" else None


def room_imports(root: Path) -> set[tuple[str, str]]:
    """Every import between two rooms of the tree at `root`: (importer, imported module)."""
    edges = set()
    for path in sorted((root / "app").rglob("*.py")):
        module = module_name(path, root)
        for target, names, _ in imports(path, root):
            # `from app import settings` takes a module; `from app import __version__` does not.
            modules = [f"app.{n}" for n in names if is_module(root, f"app.{n}")] or [target]
            for imported in modules if target == "app" else [target]:
                if room_of(imported) not in (None, room_of(module)):
                    edges.add((module, imported))
    return edges


def is_module(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward(edges: set[tuple[str, str]]) -> list[str]:
    """The imports that go to a higher layer than the importer's (not known)."""
    bad = []
    for importer, imported in sorted(edges - KNOWN_UPWARD.keys()):
        low, high = room_of(importer), room_of(imported)
        assert low is not None and high is not None
        if ROOM_LAYER.get(high, -1) < ROOM_LAYER.get(low, len(LAYERS)):
            bad.append(f"{importer} imports {imported}: {high} is above {low}")
    return bad


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Each loop of rooms importing each other (known exceptions left out), as a path."""
    graph: dict[str, set[str]] = {}
    for importer, imported in edges - KNOWN_UPWARD.keys():
        graph.setdefault(str(room_of(importer)), set()).add(str(room_of(imported)))
    found: list[list[str]] = []

    def walk(room: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(room, ())):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each loop once, from its least room
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_actors_imports_only_the_domain_allow_list() -> None:
    modules = sorted((ROOT / "actors").rglob("*.py"))
    assert len(modules) > 5
    offenders = {path.name: sorted(imported_roots(path) - ALLOWED) for path in modules}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_check_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import aiosqlite\nfrom app.server import build_app\nfrom starlette import websockets\n"
    )
    assert imported_roots(sneaky) - ALLOWED == {"aiosqlite", "app", "starlette"}


def test_actors_does_no_io() -> None:
    modules = sorted((ROOT / "actors").rglob("*.py"))
    assert len(modules) > 5
    found = {path.name: io_uses(path) for path in modules}
    assert {name: uses for name, uses in found.items() if uses} == {}


def test_the_io_check_would_catch_each_kind(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import sqlite3\n"
        "from pathlib import Path\n"
        "from asyncio import open_connection, sleep\n"
        "import asyncio as aio\n"
        "aio.start_server\n"
        "import asyncio.subprocess\n"
        "from anyio import to_thread\n"
        "import anyio\n"
        "anyio.open_file\n"
        "open('x')\n"
        "import threading\n"
        "print(1)\n"
        "from os.path import join\n"
        "from . import sibling\n"
    )
    lines = [int(use.split(":")[0]) for use in io_uses(sneaky)]
    assert lines == [1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13], io_uses(sneaky)


def test_every_room_of_app_has_a_layer() -> None:
    rooms = {room_of(module_name(path, ROOT)) for path in (ROOT / "app").rglob("*.py")}
    assert len(rooms) > 8
    assert sorted(str(room) for room in rooms - ROOM_LAYER.keys()) == [], "add it to LAYERS"


def test_app_imports_only_its_own_layer_and_below() -> None:
    assert upward(room_imports(ROOT)) == []


def test_no_two_rooms_import_each_other() -> None:
    assert cycles(room_imports(ROOT)) == []


def test_every_known_upward_import_is_still_there() -> None:
    gone = sorted(KNOWN_UPWARD.keys() - room_imports(ROOT))
    assert gone == [], "these imports are gone: delete their rows from KNOWN_UPWARD"


def test_the_layer_checks_would_catch_an_upward_import_and_a_loop(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/storage/__init__.py": "",
        "app/storage/journal.py": "from app.http.errors import ApiError\n",
        "app/http/__init__.py": "",
        "app/http/errors.py": "from ..storage import journal\nfrom app.sockets import writer\n",
        "app/sockets/__init__.py": "",
        "app/sockets/writer.py": "from app.http.errors import ApiError\nfrom app import settings\n",
        "app/settings.py": "import msgspec\nfrom actors.config import Seconds\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    edges = room_imports(tmp_path)
    assert edges == {
        ("app.storage.journal", "app.http.errors"),
        ("app.http.errors", "app.storage"),
        ("app.http.errors", "app.sockets"),
        ("app.sockets.writer", "app.http.errors"),
        ("app.sockets.writer", "app.settings"),
        ("app.settings", "actors.config"),
    }
    assert upward(edges) == ["app.storage.journal imports app.http.errors: http is above storage"]
    assert cycles(edges) == [["http", "sockets", "http"], ["http", "storage", "http"]]
