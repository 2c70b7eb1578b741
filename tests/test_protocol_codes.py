"""One table of close codes, error codes and event types (actors/protocol_codes.py,
actors/event_types.py), and no copy of it anywhere: not in the Python sources, not in the
browser's JavaScript, which imports the generated `/sdk/protocol.js` instead."""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors import events, protocol_codes
from actors.event_types import CANDIDATE_EVENT_CLASSES, EVENT_TYPE_BY_NAME, EVENT_TYPES, tag_of
from actors.protocol_codes import CLOSE_BY_CODE, CLOSE_CODES, ERROR_BY_CODE, ERROR_CODES
from actors.vision_episodes import EPISODE_EVENT
from app.http.protocol_js import protocol_module
from tests.support import RunningServer

ROOT = Path(__file__).parent.parent
WEB = ROOT / "app" / "web"
SOURCES = sorted([*(ROOT / "actors").rglob("*.py"), *(ROOT / "app").rglob("*.py")])
TABLES = {ROOT / "actors" / "protocol_codes.py"}
# Calls whose argument at this position (or keyword `code`) is an error code.
ERROR_CODE_ARGS = {
    "ApiError": 1,
    "error_response": 1,
    "Rejected": 0,
    "BadSignature": 0,
    "_error": 0,
    "_reject": 2,
    "Error": None,  # outbound.Error(code=...)
}
# Calls that make a stored event: the argument that is its type.
EVENT_TYPE_ARGS = {
    "_server_event": 0,
    "StoredEvent": None,
    "RecordEvent": None,
    "record_event": None,
    "store_event": None,
    "Due": None,
}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _call_name(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def _argument(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def _values(path: Path, wanted: dict[str, int | None], keyword: str) -> Iterator[tuple[str, Any]]:
    """(where, value) of each such argument that is a constant or a module-level name."""
    module = vars(importlib.import_module(_module_name(path)))
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and _call_name(node) in wanted:
            arg = _argument(node, wanted[_call_name(node)], keyword)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(arg, ast.Constant):
                yield where, arg.value
            elif isinstance(arg, ast.Name | ast.Attribute):
                try:
                    yield where, eval(ast.unparse(arg), module)
                except NameError:
                    continue  # a local variable: its value is checked where it is assigned


def test_close_codes_are_one_table_with_a_reconnect_rule() -> None:
    assert len(CLOSE_BY_CODE) == len(CLOSE_CODES)
    assert len({c.name for c in CLOSE_CODES}) == len(CLOSE_CODES)
    for close in CLOSE_CODES:
        assert 1000 <= close.code <= 1015 or 4000 <= close.code <= 4999, close
        # The SDK retries ("offline") exactly the codes that say so; a terminal code names the
        # status it stops in.
        assert (close.outcome == "offline") == close.reconnect, close
        assert close.sockets and close.meaning.endswith("."), close
    terminal = {c.code for c in CLOSE_CODES if not c.reconnect}
    assert terminal == {4401, 4403, 4404, 4409, 4500}  # CONTRACT.md sections 2 and 4
    constants = {
        name: value for name, value in vars(protocol_codes).items() if name.startswith("CLOSE_")
    }
    numbers = {v for v in constants.values() if isinstance(v, int)}
    assert numbers == set(CLOSE_BY_CODE), "every CLOSE_ constant has a row, and every row one"


def test_error_codes_are_one_table() -> None:
    assert len(ERROR_BY_CODE) == len(ERROR_CODES)
    for error in ERROR_CODES:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error.code), error
        assert error.on and error.meaning.endswith("."), error
        if error.on == ("rest",) and error.code != protocol_codes.HTTP_ERROR:
            assert error.status is not None, f"{error.code}: a REST-only code needs its status"
    constants = {v for k, v in vars(protocol_codes).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(ERROR_BY_CODE), "every error constant has a row, and every row one"


def test_every_error_code_sent_is_in_the_table() -> None:
    sent = [
        (where, value)
        for path in SOURCES
        for where, value in _values(path, ERROR_CODE_ARGS, "code")
        if isinstance(value, str)
    ]
    assert len(sent) > 40, "the scan found the call sites"
    missing = [(where, code) for where, code in sent if code not in ERROR_BY_CODE]
    assert not missing, f"error codes not in actors/protocol_codes.py: {missing}"


def test_close_codes_are_written_only_in_the_table() -> None:
    """No CLOSE_ constant, no literal of a code of the table, and no `close(<number>)` outside
    the table."""
    found = []
    for path in SOURCES:
        if path in TABLES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int:
                if node.value >= 4000 and node.value in CLOSE_BY_CODE:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
            if isinstance(node, ast.Call) and _call_name(node) == "close" and node.args:
                if isinstance(node.args[0], ast.Constant):  # a code not named in the table
                    found.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: close({node.args[0].value})"
                    )
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id.startswith("CLOSE_"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {target.id}")
    assert not found, found


def test_the_catalogue_holds_every_event_type() -> None:
    assert len(EVENT_TYPE_BY_NAME) == len(EVENT_TYPES), "each type once"
    candidate = {e.type for e in EVENT_TYPES if e.madeBy == "candidate"}
    assert candidate == events.CANDIDATE_EVENT_TYPES
    assert [tag_of(cls) for cls in CANDIDATE_EVENT_CLASSES] == [
        e.type for e in EVENT_TYPES if e.madeBy == "candidate"
    ]
    made = {
        (where, value)
        for path in SOURCES
        for where, value in _values(path, EVENT_TYPE_ARGS, "type")
        if isinstance(value, str)
    }
    made |= {("vision_episodes.EPISODE_EVENT", t) for t in EPISODE_EVENT.values()}
    assert len(made) > 15, "the scan found the call sites"
    missing = sorted((where, t) for where, t in made if t not in EVENT_TYPE_BY_NAME)
    assert not missing, f"event types made but not in actors/event_types.py: {missing}"


def _js_module_tables(module: str, tmp_path: Path) -> dict[str, Any]:
    """What the generated module's exports are, evaluated by Node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the served text is still compared with the tables")
    (tmp_path / "protocol.mjs").write_text(module)
    script = (
        "const m = await import('./protocol.mjs');"
        "const frozen = Object.values(m).every((v) => Object.isFrozen(v));"
        "console.log(JSON.stringify({...m, frozen}));"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    tables: dict[str, Any] = json.loads(done.stdout)
    return tables


def test_the_generated_module_is_the_tables(tmp_path: Path) -> None:
    tables = _js_module_tables(protocol_module(), tmp_path)
    assert tables.pop("frozen") is True
    expected = {
        "CLOSE": {c.name.upper(): c.code for c in CLOSE_CODES},
        "CLOSE_CODES": {str(c.code): msgspec.to_builtins(c) for c in CLOSE_CODES},
        "ERROR": {e.code.upper(): e.code for e in ERROR_CODES},
        "ERROR_CODES": {e.code: msgspec.to_builtins(e) for e in ERROR_CODES},
        "EVENT_TYPES": {e.type: msgspec.to_builtins(e) for e in EVENT_TYPES},
        "CANDIDATE_EVENT_TYPES": [e.type for e in EVENT_TYPES if e.madeBy == "candidate"],
        "SERVER_EVENT_TYPES": [e.type for e in EVENT_TYPES if e.madeBy == "server"],
    }
    assert tables == json.loads(msgspec.json.encode(expected))


@pytest.mark.anyio
async def test_the_server_serves_the_generated_module(server: RunningServer) -> None:
    async with server.http(token=None) as http:
        served = await http.get("/sdk/protocol.js")
        again = await http.get(
            "/sdk/protocol.js", headers={"if-none-match": served.headers["etag"]}
        )
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    # The SDK is imported from integrators' origins, and its import of ./protocol.js with it.
    assert served.headers["access-control-allow-origin"] == "*"
    assert served.text == protocol_module()
    assert again.status_code == 304
    assert not (WEB / "sdk" / "protocol.js").exists(), "generated, never a file to edit"


def _web_scripts() -> list[Path]:
    scripts = sorted(WEB.rglob("*.js"))
    assert len(scripts) > 5
    return scripts


def test_no_hand_written_list_of_codes_or_event_types_in_the_browser() -> None:
    """A list (array, Set or Map literal) naming two or more event types or error codes, or a
    server close code as a number, would be a copy that can drift: import ./protocol.js."""
    names = set(EVENT_TYPE_BY_NAME) | set(ERROR_BY_CODE)
    server_codes = {str(code) for code in CLOSE_BY_CODE}
    found = []
    for path in _web_scripts():
        text = path.read_text()
        for bracket in re.finditer(r"\[[^\[\]]*\]", text):
            listed = {
                n for n in re.findall(r"[\"'`]([a-z_]+)[\"'`]", bracket.group()) if n in names
            }
            if len(listed) >= 2:
                found.append(f"{path.relative_to(ROOT)}: a list of {sorted(listed)}")
        for number in re.findall(r"(?<![\w.])(\d{4})(?![\w.])", text):
            if number in server_codes:
                found.append(f"{path.relative_to(ROOT)}: close code {number}")
    assert not found, found


def test_the_sdk_and_the_dashboard_import_the_generated_module() -> None:
    imports = {
        path.relative_to(WEB).as_posix(): re.findall(
            r'from "([^"]*protocol\.js)"', path.read_text()
        )
        for path in _web_scripts()
    }
    assert imports["sdk/vigil-client.js"] == ["./protocol.js"]
    assert imports["dashboard/socket.js"] == ["../sdk/protocol.js"]
    assert imports["dashboard/format.js"] == ["../sdk/protocol.js"]


def test_the_protocol_doc_names_every_code_and_event_type() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    rows = set(re.findall(r"^\| `?([\w]+)`? \|", doc, re.MULTILINE))
    missing = [
        *(str(c.code) for c in CLOSE_CODES if str(c.code) not in rows),
        *(e.code for e in ERROR_CODES if e.code not in rows),
        *(e.type for e in EVENT_TYPES if e.type not in rows),
    ]
    assert not missing, f"docs/protocol.md has no table row for {missing}"
