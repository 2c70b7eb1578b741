"""docs/behaviour.md stays true: its settings are the defaults, its example event decodes."""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.behaviour.config import BehaviourConfig
from actors.behaviour_events import BEHAVIOUR_WINDOW, BEHAVIOUR_WINDOW_DECODER

DOC = Path(__file__).resolve().parent.parent / "docs" / "behaviour.md"


def _block(language: str) -> str:
    text = DOC.read_text()
    start = text.index(f"```{language}\n") + len(language) + 4
    return text[start : text.index("```", start)]


def test_the_documented_settings_are_the_defaults() -> None:
    table = msgspec.toml.decode(_block("toml").encode())["behaviour"]
    assert msgspec.convert(table, BehaviourConfig) == BehaviourConfig()
    assert set(table) == set(BehaviourConfig.__struct_fields__)
    for name in table:
        assert set(table[name]) == set(getattr(BehaviourConfig(), name).__struct_fields__), name


def test_the_documented_event_decodes() -> None:
    event = msgspec.json.decode(_block("json").encode())
    assert event["type"] == BEHAVIOUR_WINDOW
    BEHAVIOUR_WINDOW_DECODER.decode(msgspec.json.encode(event["data"]))
