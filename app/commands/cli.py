"""The `vigil` command: `serve`, and what a self-hoster needs around it.

- `vigil serve [--config FILE] [--host H] [--port P]`
- `vigil check-config [--config FILE] [--host H] [--port P]`: every effective setting and where
  it comes from; exits 2 naming the key when the configuration is invalid
- `vigil hash-token`: the `sha256:<hex>` form of the token read from standard input
- `vigil create-token [--role admin|reviewer]`: a new random token and its `sha256:<hex>` form
- `vigil export --session ID | --assessment ID [--output FILE]`: stored events as JSON lines
- `vigil purge [--force]`: the retention job, once, now
- `vigil backup DEST`: a consistent copy of the storage folder, safe while the server runs
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import uvicorn

from app.access.tokens import HASH_PREFIX, hash_token
from app.commands import storage as storage_commands
from app.commands.config_sources import Flag, effective, overrides, render
from app.server import build_app
from app.settings import ConfigError, Settings, load_settings
from app.storage.sealing.data_keys import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE,
    KeyConfigError,
    MasterKeys,
)
from app.telemetry.log_redaction import install_log_redaction

_TOKEN_PREFIX = {"admin": "vat_", "reviewer": "vrt_"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    match args.command:
        case "hash-token":
            return _hash_token()
        case "create-token":
            return _create_token(args.role)
        case "check-config":
            return _check_config(args)
    try:
        settings = load_settings(args.config, overrides=overrides(_flags(args)))
    except ConfigError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve_forever(settings)
    return storage_commands.run(args, settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil", description="Vigil, the real-time proctoring server."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    _server_options(serve)
    check = commands.add_parser(
        "check-config",
        help="validate the configuration and print every effective setting with its source "
        "(built-in default, config file, VIGIL_<SECTION>_<KEY>, or a flag)",
    )
    _server_options(check)
    commands.add_parser(
        "hash-token",
        help="print the sha256:<hex> form of the token read from standard input, for "
        "[auth] admin_token, admin_token_hashes or reviewer_token_hashes",
    )
    create = commands.add_parser(
        "create-token",
        help="print a new random token, then its sha256:<hex> form to put in [auth] "
        "admin_token_hashes or reviewer_token_hashes",
    )
    create.add_argument("--role", choices=sorted(_TOKEN_PREFIX), default="admin")
    storage_commands.add_parsers(commands, _config_option)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="config file (default: the built-in config.toml)"
    )


def _server_options(parser: argparse.ArgumentParser) -> None:
    _config_option(parser)
    parser.add_argument("--host", help="overrides [server] host")
    parser.add_argument("--port", type=int, help="overrides [server] port")


def _flags(args: argparse.Namespace) -> list[Flag]:
    flags = []
    if getattr(args, "host", None) is not None:
        flags.append(Flag("server", "host", "--host", args.host))
    if getattr(args, "port", None) is not None:
        flags.append(Flag("server", "port", "--port", args.port))
    return flags


def _hash_token() -> int:
    token = sys.stdin.readline().strip()
    if not token:
        print("vigil: expected a token on standard input", file=sys.stderr)
        return 2
    print(HASH_PREFIX + hash_token(token))
    return 0


def _create_token(role: str) -> int:
    token = _TOKEN_PREFIX[role] + secrets.token_urlsafe(32)
    print(token)
    print(HASH_PREFIX + hash_token(token))
    where = "admin_token_hashes" if role == "admin" else "reviewer_token_hashes"
    print(
        f"vigil: give the first line to the {role} (it is shown only now); add the second to "
        f"[auth] {where} in the config file and restart the server",
        file=sys.stderr,
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    try:
        entries = effective(args.config, os.environ, _flags(args))
        keys = master_key_source(os.environ)
    except (ConfigError, KeyConfigError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(entries))
    sys.stdout.write(f"# master key: {keys}\n")
    return 0


def master_key_source(environ: Mapping[str, str]) -> str:
    """Where the master keys come from, checked (KeyConfigError if malformed), never shown."""
    found = MasterKeys.configured(environ)
    if found is None:
        return (
            f"none in the environment: the server generates one into <storage>/{MASTER_KEY_FILE} "
            f"(set {MASTER_KEY_ENV} on a real server)"
        )
    keys, where = found
    retired_ids = ", ".join(keys.retired) or "none"
    return f"{where}, current {keys.current.id}, retired {retired_ids}"


def serve_forever(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = uvicorn.Config(
        build_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # Only a proxy named here may say who the client is: the address feeds the IP-change
        # risk factor, the per-address limits and the audit log.
        proxy_headers=bool(settings.server.forwarded_allow_ips),
        forwarded_allow_ips=",".join(settings.server.forwarded_allow_ips) or None,
        ws_per_message_deflate=settings.server.ws_per_message_deflate,
        # Past this uvicorn closes the socket (1009); below it Vigil answers too_large itself.
        ws_max_size=max(settings.candidate.max_frame_bytes, settings.candidate.max_event_bytes) * 2,
        lifespan="on",
        log_level=settings.server.log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.server.shutdown_grace_seconds)),
    )
    install_log_redaction()  # after uvicorn.Config: it configures uvicorn's loggers
    server = uvicorn.Server(config)
    tune_garbage_collector()
    # uvicorn re-raises the signal it stopped on once it has shut down; with the default
    # handlers in place that would kill the process with 128+signal instead of exiting 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_after_shutdown)
    server.run()
    return 0 if server.started else 1


def tune_garbage_collector() -> None:
    """Freeze what start-up made, so that no collection walks it again. The thresholds matter
    only with `server.gc_young_seconds = 0`: otherwise `GcPacer` (app/process/gc_pacer.py) turns
    automatic collection off while the server runs. With 1,000 live sessions the default
    thresholds paused the loop up to ~120 ms (benchmarks/RESULTS.md, 2026-11-22); these raised
    ones still let a young collection pause it 135-147 ms at 10,000 (2026-11-23 06:24)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _ignore_after_shutdown(signum: int, frame: FrameType | None) -> None:
    logging.getLogger("vigil.server").info("signal %d after shutdown: ignored", signum)


if __name__ == "__main__":
    sys.exit(main())
