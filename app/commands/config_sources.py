"""Where each effective setting comes from (`vigil check-config`): a built-in default, the config
file, a `VIGIL_<SECTION>_<KEY>` environment variable, or a command-line flag, in that order of
precedence. `app.settings.load_settings` decides the values; this only names their sources,
and prints them as TOML that would configure the same server."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from app.settings import DEFAULT_CONFIG, ENV_PREFIX, ConfigError, Settings, load_settings

BUILT_IN: Final = "built-in default"
_HIDDEN: Final = "(set; hidden)"
_PATH: Final = re.compile(r"`\$\.([a-z_]+)\.([a-z_]+)")


class Flag(msgspec.Struct, frozen=True):
    """A command-line flag that sets a key (`--port` sets server.port)."""

    section: str
    key: str
    name: str
    value: object


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    section: str
    key: str
    value: Any  # as builtins
    source: str


def effective(
    config_file: Path | None, environ: Mapping[str, str], flags: list[Flag]
) -> list[Entry]:
    """Every key of the settings with its value and source, as `vigil serve` with these flags
    would run. Raises `ConfigError`, completed with the source of the key it names."""
    sources = _sources(config_file, environ, flags)
    try:
        settings = load_settings(config_file, environ=environ, overrides=overrides(flags))
    except ConfigError as exc:
        raise ConfigError(_with_source(str(exc), sources)) from None
    entries = []
    for section in Settings.__struct_fields__:
        table = getattr(settings, section)
        for key in table.__struct_fields__:  # every key, even where a Struct omits defaults
            value = msgspec.to_builtins(getattr(table, key))
            entries.append(
                Entry(
                    section=section,
                    key=key,
                    value=_HIDDEN if value and _secret(key) else value,
                    source=sources.get((section, key), BUILT_IN),
                )
            )
    return entries


def overrides(flags: list[Flag]) -> dict[str, dict[str, object]]:
    """The flags as `load_settings` takes them."""
    found: dict[str, dict[str, object]] = {}
    for flag in flags:
        found.setdefault(flag.section, {})[flag.key] = flag.value
    return found


def render(entries: list[Entry]) -> str:
    """TOML, one table per section, each key followed by its source as a comment."""
    lines: list[str] = []
    section = ""
    width = max((len(f"{e.key} = {_toml(e.value)}") for e in entries), default=0)
    for entry in entries:
        if entry.section != section:
            section = entry.section
            lines.extend(([""] if lines else []) + [f"[{section}]"])
        assignment = (
            f"# {entry.key} is unset"
            if entry.value is None
            else f"{entry.key} = {_toml(entry.value)}"
        )
        lines.append(f"{assignment.ljust(min(width, 60))}  # {entry.source}")
    return "\n".join(lines) + "\n"


def _sources(
    config_file: Path | None, environ: Mapping[str, str], flags: list[Flag]
) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    if config_file is not None and config_file != DEFAULT_CONFIG:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            raw = {}  # load_settings reports it
        for section, values in raw.items():
            for key in values if isinstance(values, dict) else ():
                found[(section, key)] = f"config file {config_file}"
    for name in environ:
        if name.startswith(ENV_PREFIX):
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
            found[(section, key)] = f"environment {name}"
    for flag in flags:
        found[(flag.section, flag.key)] = f"command line {flag.name}"
    return found


def _with_source(message: str, sources: Mapping[tuple[str, str], str]) -> str:
    match = _PATH.search(message)
    if match is None:
        return message
    source = sources.get((match[1], match[2]), BUILT_IN)
    return f"{message} (`{match[1]}.{match[2]}` from {source})"


def _secret(key: str) -> bool:
    return key == "admin_token" or key.endswith("_key") or "secret" in key or "password" in key


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        # TOML has no null: an unset field is left out, as it would be written by hand.
        inner = ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(value)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
