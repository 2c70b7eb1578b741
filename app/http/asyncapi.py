"""`GET /asyncapi.json`: the AsyncAPI 3.0 document of the candidate and admin sockets, generated
from the msgspec types the sockets decode and send, as `/openapi.json` is from the REST types.
docs/protocol.md is its prose; the close and error codes ride along as `x-` extensions, from
actors/protocol_codes.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, get_args

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors import outbound
from actors.event_types import CANDIDATE_EVENT_CLASSES, EVENT_TYPE_BY_NAME
from actors.protocol_codes import CLOSE_CODES, ERROR_CODES

Message = type[msgspec.Struct]

# Which socket each server message goes out on. A new message in actors/outbound.py belongs in
# one of these (tests/test_asyncapi.py fails until it is).
TO_CANDIDATE: Final[tuple[Message, ...]] = (
    outbound.Ack,
    outbound.Error,
    outbound.Warning,
    outbound.Pause,
    outbound.Resume,
    outbound.Terminate,
    outbound.ExamClock,
    outbound.Moved,
)
TO_ADMIN: Final[tuple[Message, ...]] = (
    outbound.Snapshot,
    outbound.EventMessage,
    outbound.StateMessage,
    outbound.Alert,
    outbound.Unsubscribed,
    outbound.Intervened,
    outbound.NodeStatus,
    outbound.Error,
)
WEBCAM_FRAME: Final = "webcam_frame"
_SCHEMAS: Final = "#/components/schemas/{name}"
_TOKEN: Final = {
    "type": "object",
    "properties": {"token": {"type": "string", "description": "The bearer token (section 2)."}},
    "required": ["token"],
}


def tag(message: Message) -> str:
    name = message.__struct_config__.tag
    assert isinstance(name, str), f"expected a tagged message Struct, got {message!r}"
    return name


# One line per message that is not a candidate event (those are in actors/event_types.py).
_SUMMARIES: Final = {
    "ack": "Every event of this session with seq <= `seq` is durably stored.",
    "error": "A frame or command was refused and nothing was stored; `code` says why.",
    "warning": "A proctor or a rule warns the candidate; `warningsLeft` before the last one.",
    "pause": "The session is paused: answering should stop until `resume`.",
    "resume": "The paused session runs again.",
    "terminate": "The session was terminated; the client stops sending.",
    "subscribe": "Follow a channel: session:<id>, assessment:<id>, alerts or sessions.",
    "unsubscribe": "Stop following a channel.",
    "intervene": "Warn, pause, resume or terminate a session (admin tokens only).",
    "snapshot": "The answer to subscribe: the channel's sessions now, before any event.",
    "event": "A stored event of a followed session, with the session's state after it.",
    "state": "A change of SessionState that no stored event carries (a candidate connecting).",
    "alert": "On `alerts`: one per violation, intervention, fired rule or vision finding.",
    "unsubscribed": "The answer to unsubscribe.",
    "intervened": "The answer to intervene: the offset of the stored `intervention` event.",
    "moved": "Another node hosts this session: reconnect to `url` (a `moved` close follows).",
    "node": "A node of the cluster is up, unreachable (its sessions as last known) or stopped.",
    # Exam control (contract section 9.3).
    "clock": "A timed session's time left by the server's clock: on connecting, at changes.",
}


def _summary(message: Message) -> str:
    if message in CANDIDATE_EVENT_CLASSES:
        return EVENT_TYPE_BY_NAME[tag(message)].meaning
    return _SUMMARIES.get(tag(message), "")


def asyncapi_document(version: str, admin_commands: Sequence[Message]) -> dict[str, Any]:
    """`admin_commands`: the members of the admin socket's decoder union (app/sockets/admin.py,
    passed in by the composition root: app/http does not import app/sockets)."""
    sides = {
        "candidateEvents": CANDIDATE_EVENT_CLASSES,
        "candidateReplies": TO_CANDIDATE,
        "adminCommands": tuple(admin_commands),
        "adminMessages": TO_ADMIN,
    }
    types = list(dict.fromkeys(t for group in sides.values() for t in group))
    schemas, components = msgspec.json.schema_components(types, ref_template=_SCHEMAS)
    schema_of = dict(zip(types, schemas, strict=True))
    messages: dict[str, Any] = {
        WEBCAM_FRAME: {
            "name": WEBCAM_FRAME,
            "title": "Webcam frame",
            "summary": "One JPEG from the webcam, as a binary frame; not acknowledged.",
            "description": "At most [candidate] max_frame_bytes (default 512 KiB): a larger one "
            "gets an error too_large; one over the 1 MiB transport limit closes the socket (1009).",
            "contentType": "image/jpeg",
            "payload": {"type": "string", "format": "binary"},
        }
    }
    for message in types:
        messages[tag(message)] = {
            "name": tag(message),
            "title": message.__name__,
            "summary": _summary(message),
            "contentType": "application/json",
            "payload": schema_of[message],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Vigil sockets",
            "version": version,
            "description": "The candidate and admin WebSockets of Vigil (docs/protocol.md). "
            "Described from the server's side: it receives what clients send and sends the rest.",
        },
        "defaultContentType": "application/json",
        "channels": {
            "candidate": _channel(
                "/ws/candidate/{sessionId}",
                "One candidate's events in, acks and proctor messages out.",
                [*CANDIDATE_EVENT_CLASSES, *TO_CANDIDATE],
                extra=[WEBCAM_FRAME],
                parameters={"sessionId": {"description": "The session's id."}},
            ),
            "admin": _channel(
                "/ws/admin",
                "Channels of live sessions (snapshots, events, alerts) and interventions.",
                [*admin_commands, *TO_ADMIN],
            ),
        },
        "operations": {
            "receiveCandidateEvent": _operation(
                "receive", "candidate", [*map(tag, CANDIDATE_EVENT_CLASSES), WEBCAM_FRAME]
            ),
            "sendCandidateReply": _operation("send", "candidate", [*map(tag, TO_CANDIDATE)]),
            "receiveAdminCommand": _operation("receive", "admin", [*map(tag, admin_commands)]),
            "sendAdminMessage": _operation("send", "admin", [*map(tag, TO_ADMIN)]),
        },
        "components": {"schemas": components, "messages": messages},
        "x-close-codes": [msgspec.to_builtins(c) for c in CLOSE_CODES],
        "x-error-codes": [
            msgspec.to_builtins(e) for e in ERROR_CODES if set(e.on) & {"candidate", "admin"}
        ],
    }


def _channel(
    address: str,
    description: str,
    members: Sequence[Message],
    extra: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    names = [*dict.fromkeys(map(tag, members)), *extra]
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        "bindings": {"ws": {"method": "GET", "query": _TOKEN, "bindingVersion": "0.1.0"}},
    }
    if parameters:
        channel["parameters"] = parameters
    return channel


def _operation(action: str, channel: str, names: Sequence[str]) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names],
    }


def asyncapi_handler(version: str, admin_commands: Any) -> Callable[[Request], Awaitable[Response]]:
    """The handler serving the document, encoded once; public like /openapi.json.
    `admin_commands` is the union the admin socket decodes (app/http never imports app/sockets)."""
    body = msgspec.json.encode(asyncapi_document(version, get_args(admin_commands)))

    async def asyncapi_json(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return asyncapi_json
