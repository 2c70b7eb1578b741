"""`POST /candidate-sessions/:id/interventions`: warn, pause, resume or terminate a session over
REST, as the admin socket's `intervene` does (docs/protocol.md, "Interventions"). An admin socket
on another node of a cluster sends its `intervene` for this node's session here (through
`app/http/forwarding.py::Forwarder.intervene`), so the dashboard's controls work on every node."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.messages import Intervene, InterventionAction
from actors.outbound import Intervened
from actors.registry import Registry
from actors.reply import Reply
from app.http.bodies import decode_json, json_response
from app.http.endpoints import Endpoint
from app.http.session_calls import SessionCalls, actor_errors

# As much as an admin command carries (app/sockets/admin.py, MAX_COMMAND_BYTES).
MAX_MESSAGE: Final = 16 * 1024


class InterventionBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    action: InterventionAction
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE)] = ""


class InterventionAnswer(msgspec.Struct, frozen=True, kw_only=True):
    sessionId: str
    action: InterventionAction
    offset: int  # the stored `intervention` event's


class InterventionRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(self, calls: SessionCalls, registry: Registry) -> None:
        self._calls = calls
        self._registry = registry

    async def intervene(self, request: Request) -> Response:
        call = await self._calls.admitted(request, allow="admin")
        body = decode_json(call.raw, InterventionBody)
        reply: Reply[int] = Reply()
        with actor_errors(call.session_id):
            offset = await self._registry.ask(
                call.session_id,
                Intervene(action=body.action, message=body.message, by="admin", reply=reply),
                reply,
            )
        return json_response(
            InterventionAnswer(sessionId=call.session_id, action=body.action, offset=offset)
        )


def intervened(answer: bytes) -> Intervened:
    """The admin socket's reply for a forwarded intervention's answer."""
    found = msgspec.json.decode(answer, type=InterventionAnswer)
    return Intervened(sessionId=found.sessionId, action=found.action, offset=found.offset)


ENDPOINTS = [
    Endpoint(
        "POST", "/candidate-sessions/{session_id}/interventions", InterventionRoutes.intervene,
        "Warn, pause, resume or terminate a session (as the admin socket's intervene)",
        InterventionAnswer, body=InterventionBody, errors=(400, 404, 409, 413, 422, 503),
    ),
]  # fmt: skip
