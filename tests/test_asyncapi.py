"""/asyncapi.json: the AsyncAPI 3.0 document of the sockets, served by a real server. It must
name every message the sockets decode or send (a new one fails here until it is described),
hold together as AsyncAPI 3.0 does (no validator is available offline, so the structural rules
are checked here), and describe what a real socket actually sends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest
from jsonschema import Draft202012Validator

from actors import outbound
from actors.events import CANDIDATE_EVENT_DECODER
from actors.protocol_codes import CLOSE_CODES, SEQ_GAP, UNKNOWN_TYPE
from app.http.asyncapi import WEBCAM_FRAME
from app.sockets.admin import COMMAND_DECODER
from tests.support import RunningServer

pytestmark = pytest.mark.anyio

COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")  # AsyncAPI 3.0, Components Object


@pytest.fixture
async def document(server: RunningServer) -> dict[str, Any]:
    async with server.http(token=None) as http:
        response = await http.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def _tags(union: Any) -> set[str]:
    return {member.__struct_config__.tag for member in get_args(union)}


def _outbound_tags() -> set[str]:
    return {
        value.__struct_config__.tag
        for value in vars(outbound).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__struct_config__.tag is not None
    }


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"expected a local reference, got {ref!r}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _operation_messages(document: dict[str, Any], operation: str) -> set[str]:
    return {ref["$ref"].rsplit("/", 1)[1] for ref in document["operations"][operation]["messages"]}


async def test_every_message_of_both_sockets_is_in_it(document: dict[str, Any]) -> None:
    received_by_candidate_socket = _tags(CANDIDATE_EVENT_DECODER.type) | {WEBCAM_FRAME}
    assert _operation_messages(document, "receiveCandidateEvent") == received_by_candidate_socket
    assert _operation_messages(document, "receiveAdminCommand") == _tags(COMMAND_DECODER.type)
    sent = _operation_messages(document, "sendCandidateReply") | _operation_messages(
        document, "sendAdminMessage"
    )
    missing = _outbound_tags() - sent
    assert not missing, f"messages of actors/outbound.py no socket sends here: {missing}"
    for message in document["components"]["messages"].values():
        assert message["summary"], f"{message['name']} needs a summary"


async def test_it_holds_together_as_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    components = document["components"]
    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(key) for key in components[section]), section
    for schema in components["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for message in components["messages"].values():
        assert set(message) <= {
            "name", "title", "summary", "description", "contentType", "payload", "headers",
        }  # fmt: skip
        Draft202012Validator.check_schema(message["payload"])

    used = set()
    for name, channel in document["channels"].items():
        assert channel["address"].startswith("/ws/"), name
        assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel.get("parameters", {}))
        for key, ref in channel["messages"].items():
            assert ref == {"$ref": f"#/components/messages/{key}"}, (name, key)
            used.add(key)
        assert channel["bindings"]["ws"]["query"]["required"] == ["token"]
    assert used == set(components["messages"]), "every message belongs to a channel"

    on_channels: dict[str, set[str]] = {name: set() for name in document["channels"]}
    for name, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        assert channel in document["channels"], name
        for ref in operation["messages"]:
            # AsyncAPI 3.0: an operation's messages are its channel's own.
            assert ref["$ref"].startswith(f"#/channels/{channel}/messages/"), (name, ref)
            on_channels[channel].add(ref["$ref"].rsplit("/", 1)[1])
    for name, channel in document["channels"].items():
        assert on_channels[name] == set(channel["messages"]), f"{name}: a message no op uses"

    for ref in _refs(document):
        _resolve(document, ref)
    assert {c["code"] for c in document["x-close-codes"]} == {c.code for c in CLOSE_CODES}


def _validator(document: dict[str, Any], operation: str) -> Draft202012Validator:
    """Validates a frame as one of the operation's messages, against the document's schemas."""
    payloads = [
        _resolve(document, _resolve(document, ref["$ref"])["$ref"])["payload"]
        for ref in document["operations"][operation]["messages"]
    ]
    schema = {"oneOf": payloads, "components": document["components"]}
    return Draft202012Validator(schema)


async def test_what_the_sockets_send_matches_it(
    document: dict[str, Any], server: RunningServer
) -> None:
    candidate_replies = _validator(document, "sendCandidateReply")
    admin_messages = _validator(document, "sendAdminMessage")
    session_id, token = await server.create_session()
    seen: list[dict[str, Any]] = []
    async with server.admin() as admin, server.candidate(session_id, token) as candidate:
        seen.append(await admin.subscribe(f"session:{session_id}"))
        await candidate.event(1, "assessment_started")
        await candidate.event(2, "tab_switch_detected")
        await candidate.acked(2)
        await candidate.event(9)
        gap, _ = await candidate.recv_until(lambda m: m["type"] == "error")
        await candidate.send({"type": "no_such_event", "seq": 3, "ts": "2026-01-15T10:25:30Z"})
        unknown, _ = await candidate.recv_until(lambda m: m["type"] == "error")
        await admin.send({"type": "intervene", "sessionId": session_id, "action": "warn"})
        warning, _ = await candidate.recv_until(lambda m: m["type"] == "warning")
        intervened, skipped = await admin.recv_until(lambda m: m["type"] == "intervened")
        seen += [*skipped, intervened]
        await admin.send({"type": "unsubscribe", "channel": f"session:{session_id}"})
        seen.append((await admin.recv_until(lambda m: m["type"] == "unsubscribed"))[0])
    assert (gap["code"], unknown["code"]) == (SEQ_GAP, UNKNOWN_TYPE)
    for frame in (gap, unknown, warning, {"type": "ack", "seq": 2}):
        candidate_replies.validate(frame)
    kinds = {m["type"] for m in seen}
    assert {"snapshot", "event", "intervened", "unsubscribed"} <= kinds, kinds
    for message in seen:
        admin_messages.validate(message)


async def test_the_protocol_doc_describes_every_message(document: dict[str, Any]) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    missing = [name for name in document["components"]["messages"] if f"`{name}`" not in doc]
    assert not missing, f"docs/protocol.md does not describe {missing}"
