"""Every close code and error code Vigil sends, in one table (docs/protocol.md).

Close codes are a table, as centrifuge keeps them: each says whether a client should reconnect
(the problem may pass: a restart, a slow reader, a busy address) or stop (a wrong token stays
wrong, an erased session stays erased). The numbers are the contract's and cannot move, so the
split is a flag per code, not a range. Error codes are the `code` of a socket's
`{"type": "error"}` and of REST's `{"error": {...}}`.

The SDK and the dashboard read these tables from `/sdk/protocol.js`, which the server generates
from this module (app/http/protocol_js.py): edit here, never there.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

Socket = Literal["candidate", "admin"]
Channel = Literal["candidate", "admin", "rest"]

# --- close codes -----------------------------------------------------------------------------

CLOSE_GOING_AWAY: Final = 1001
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404
CLOSE_SLOW: Final = 4408
CLOSE_REPLACED: Final = 4409
CLOSE_TOO_MANY: Final = 4429
CLOSE_SESSION_FAILED: Final = 4500
CLOSE_MOVED: Final = 4307
CLOSE_NODE_UNREACHABLE: Final = 4503


class CloseCode(msgspec.Struct, frozen=True, kw_only=True):
    code: int
    name: str
    reconnect: bool  # False: terminal, reconnecting cannot help
    # What the SDK's status becomes: "offline" (it retries) or the terminal status it stops in.
    outcome: str
    sockets: tuple[Socket, ...]
    meaning: str


CLOSE_CODES: Final = (
    CloseCode(
        code=CLOSE_GOING_AWAY,
        name="going_away",
        reconnect=True,
        outcome="offline",
        sockets=("candidate", "admin"),
        meaning="The server is shutting down; another node, or this one restarted, takes over.",
    ),
    CloseCode(
        code=CLOSE_MESSAGE_TOO_BIG,
        name="message_too_big",
        reconnect=True,
        outcome="offline",
        sockets=("candidate", "admin"),
        meaning="A frame was over the 1 MiB transport limit (closed by uvicorn, not Vigil).",
    ),
    CloseCode(
        code=CLOSE_UNAUTHORIZED,
        name="unauthorized",
        reconnect=False,
        outcome="rejected",
        sockets=("candidate", "admin"),
        meaning="The token is missing, invalid, or a candidate token expired with its session.",
    ),
    CloseCode(
        code=CLOSE_FORBIDDEN,
        name="forbidden",
        reconnect=False,
        outcome="rejected",
        sockets=("candidate", "admin"),
        meaning="The token may not open this socket (another session's, or not admin/reviewer), "
        "or the page's Origin is not in [server] allowed_origins.",
    ),
    CloseCode(
        code=CLOSE_NOT_FOUND,
        name="not_found",
        reconnect=False,
        outcome="erased",
        sockets=("candidate",),
        meaning="No such session, or it was erased; the client should forget what it kept.",
    ),
    CloseCode(
        code=CLOSE_SLOW,
        name="too_slow",
        reconnect=True,
        outcome="offline",
        sockets=("candidate", "admin"),
        meaning="The client did not read its socket and its outbox filled; an admin gets a "
        "fresh snapshot on subscribing again.",
    ),
    CloseCode(
        code=CLOSE_REPLACED,
        name="replaced",
        reconnect=False,
        outcome="replaced",
        sockets=("candidate",),
        meaning="A newer candidate connection for this session replaced this one.",
    ),
    CloseCode(
        code=CLOSE_TOO_MANY,
        name="too_many_connections",
        reconnect=True,
        outcome="offline",
        sockets=("candidate", "admin"),
        meaning="Too many sockets open from this address ([limits]); retry after one closes.",
    ),
    CloseCode(
        code=CLOSE_MOVED,
        name="moved",
        reconnect=True,
        outcome="offline",
        sockets=("candidate",),
        meaning="Another node of the cluster hosts this session: the `moved` message just before "
        "the close gives its address; reconnect there at once (the SDK does).",
    ),
    CloseCode(
        code=CLOSE_NODE_UNREACHABLE,
        name="node_unreachable",
        reconnect=True,
        outcome="offline",
        sockets=("candidate",),
        meaning="The node that hosts this session is not answering its cluster heartbeats; "
        "keep the events and retry with backoff.",
    ),
    CloseCode(
        code=CLOSE_SESSION_FAILED,
        name="session_failed",
        reconnect=False,
        outcome="failed",
        sockets=("candidate",),
        meaning="The session's actor crashed too often and was marked failed; do not retry.",
    ),
)

# --- error codes -----------------------------------------------------------------------------

# candidate socket
SEQ_GAP: Final = "seq_gap"
INVALID_EVENT: Final = "invalid_event"
# admin socket
INVALID_COMMAND: Final = "invalid_command"
INVALID_CHANNEL: Final = "invalid_channel"
TOO_MANY_SUBSCRIPTIONS: Final = "too_many_subscriptions"
ELSEWHERE: Final = "elsewhere"
NODE_UNREACHABLE: Final = "node_unreachable"
INVALID_INTERVENTION: Final = "invalid_intervention"
# both sockets, or a socket and REST
INVALID_JSON: Final = "invalid_json"
UNKNOWN_TYPE: Final = "unknown_type"
TOO_LARGE: Final = "too_large"
RATE_LIMITED: Final = "rate_limited"
FORBIDDEN: Final = "forbidden"
NOT_FOUND: Final = "not_found"
UNAVAILABLE: Final = "unavailable"
# REST
BAD_REQUEST: Final = "bad_request"
UNAUTHORIZED: Final = "unauthorized"
TOKEN_EXPIRED: Final = "token_expired"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
CONFLICT: Final = "conflict"
INVALID_BODY: Final = "invalid_body"
INVALID_QUERY: Final = "invalid_query"
HTTP_ERROR: Final = "http_error"
INTERNAL: Final = "internal"
INVALID_IDEMPOTENCY_KEY: Final = "invalid_idempotency_key"
IDEMPOTENCY_KEY_REUSED: Final = "idempotency_key_reused"
REQUEST_IN_PROGRESS: Final = "request_in_progress"
INVALID_SIGNATURE: Final = "invalid_signature"
URL_EXPIRED: Final = "url_expired"
ALREADY_EXISTS: Final = "already_exists"
ALREADY_SUBMITTED: Final = "already_submitted"
SESSION_FINISHED: Final = "session_finished"
NOT_SUBMITTED: Final = "not_submitted"
NOT_ANSWERED: Final = "not_answered"
NO_ASSESSMENT: Final = "no_assessment"
AUTO_GRADED: Final = "auto_graded"
NO_FACE: Final = "no_face"
MULTIPLE_FACES: Final = "multiple_faces"
IDENTITY_OFF: Final = "identity_off"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
# Issue 24: screen-recording chunks.
CHUNK_OUT_OF_ORDER: Final = "chunk_out_of_order"
CHUNK_CONFLICT: Final = "chunk_conflict"
WRONG_TYPE: Final = "wrong_type"
BAD_RANGE: Final = "bad_range"
QUOTA_EXCEEDED: Final = "quota_exceeded"


class ErrorCode(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    on: tuple[Channel, ...]  # where it can come
    status: int | None = None  # its HTTP status, where it comes on REST
    meaning: str


ERROR_CODES: Final = (
    ErrorCode(
        code=SEQ_GAP,
        on=("candidate",),
        meaning="The event's seq skips ahead; `expected` is the seq to send next. Not stored.",
    ),
    ErrorCode(
        code=INVALID_EVENT,
        on=("candidate",),
        meaning="A known event type with a missing or ill-typed field; `field` names it.",
    ),
    ErrorCode(
        code=INVALID_COMMAND,
        on=("admin",),
        meaning="A binary or over-long admin command, or one with a bad field.",
    ),
    ErrorCode(
        code=INVALID_CHANNEL,
        on=("admin",),
        meaning="Not a channel: expected session:<id>, assessment:<id>, alerts or sessions.",
    ),
    ErrorCode(
        code=TOO_MANY_SUBSCRIPTIONS,
        on=("admin",),
        meaning="The socket holds [admin] max_subscriptions channels already.",
    ),
    ErrorCode(
        code=ELSEWHERE,
        on=("admin",),
        meaning="The session lives on another node of the cluster that this node cannot send "
        "the intervention to (it is stopping); intervene there.",
    ),
    ErrorCode(
        code=NODE_UNREACHABLE,
        on=("admin", "rest"),
        status=503,
        meaning="The node that hosts this session is not answering; nothing was done: retry "
        "after Retry-After (REST) or once a `node` message says it is up (admin).",
    ),
    ErrorCode(
        code=INVALID_INTERVENTION,
        on=("admin", "rest"),
        status=409,
        meaning="The action does not apply in the session's status (resume a running session).",
    ),
    ErrorCode(
        code=INVALID_JSON,
        on=("candidate", "admin", "rest"),
        status=400,
        meaning="The frame or body is not JSON, is empty, or nests too deep.",
    ),
    ErrorCode(
        code=UNKNOWN_TYPE,
        on=("candidate", "admin"),
        meaning="The `type` is missing or not one this socket accepts.",
    ),
    ErrorCode(
        code=TOO_LARGE,
        on=("candidate", "rest"),
        status=413,
        meaning="An event, webcam frame or body over its size limit; nothing was stored.",
    ),
    ErrorCode(
        code=RATE_LIMITED,
        on=("candidate", "rest"),
        status=429,
        meaning="Over the rate limit; send it again later (REST: after Retry-After).",
    ),
    ErrorCode(
        code=FORBIDDEN,
        on=("admin", "rest"),
        status=403,
        meaning="The token may not do this (a reviewer intervening, another session's token).",
    ),
    ErrorCode(
        code=NOT_FOUND,
        on=("admin", "rest"),
        status=404,
        meaning="No such session, assessment, frame or page.",
    ),
    ErrorCode(
        code=UNAVAILABLE,
        on=("admin", "rest"),
        status=503,
        meaning="The session's actor failed or the server is stopping; retry later.",
    ),
    ErrorCode(code=BAD_REQUEST, on=("rest",), status=400, meaning="A malformed HTTP request."),
    ErrorCode(
        code=UNAUTHORIZED, on=("rest",), status=401, meaning="The token is missing or invalid."
    ),
    ErrorCode(
        code=TOKEN_EXPIRED,
        on=("rest",),
        status=401,
        meaning="A candidate token whose session finished past [auth] "
        "candidate_token_grace_seconds.",
    ),
    ErrorCode(
        code=METHOD_NOT_ALLOWED,
        on=("rest",),
        status=405,
        meaning="The path exists; the method does not.",
    ),
    ErrorCode(
        code=CONFLICT,
        on=("rest",),
        status=409,
        meaning="Conflicts with the resource's state.",
    ),
    ErrorCode(
        code=INVALID_BODY,
        on=("rest",),
        status=422,
        meaning="The body breaks the schema; `field` names what.",
    ),
    ErrorCode(
        code=INVALID_QUERY,
        on=("rest",),
        status=422,
        meaning="The query string breaks the schema; `field` names what.",
    ),
    ErrorCode(
        code=HTTP_ERROR,
        on=("rest",),
        meaning="Any other HTTP error; the status says which.",
    ),
    ErrorCode(
        code=INTERNAL,
        on=("rest",),
        status=500,
        meaning="The server failed; it was logged.",
    ),
    ErrorCode(
        code=INVALID_IDEMPOTENCY_KEY,
        on=("rest",),
        status=400,
        meaning="Idempotency-Key must be 1 to 255 visible ASCII characters.",
    ),
    ErrorCode(
        code=IDEMPOTENCY_KEY_REUSED,
        on=("rest",),
        status=422,
        meaning="This Idempotency-Key came before with another request.",
    ),
    ErrorCode(
        code=REQUEST_IN_PROGRESS,
        on=("rest",),
        status=409,
        meaning="A request with this Idempotency-Key is still being answered.",
    ),
    ErrorCode(
        code=INVALID_SIGNATURE,
        on=("rest",),
        status=403,
        meaning="A signed media link whose signature or expiry does not check.",
    ),
    ErrorCode(
        code=URL_EXPIRED,
        on=("rest",),
        status=403,
        meaning="A signed media link past its expiry; read the report again for a fresh one.",
    ),
    ErrorCode(
        code=ALREADY_EXISTS,
        on=("rest",),
        status=409,
        meaning="An assessment with this id is defined already and cannot change.",
    ),
    ErrorCode(
        code=ALREADY_SUBMITTED,
        on=("rest",),
        status=409,
        meaning="The assessment was submitted already (a second submit).",
    ),
    ErrorCode(
        code=SESSION_FINISHED,
        on=("rest",),
        status=409,
        meaning="The session is completed or terminated; its status can no longer change.",
    ),
    ErrorCode(
        code=NOT_SUBMITTED,
        on=("rest",),
        status=409,
        meaning="Answers are graded once the session is submitted.",
    ),
    ErrorCode(
        code=NOT_ANSWERED,
        on=("rest",),
        status=409,
        meaning="The question to grade was not answered in this session; it scores 0.",
    ),
    ErrorCode(
        code=NO_ASSESSMENT,
        on=("rest",),
        status=409,
        meaning="The session's assessment was never defined (POST /assessments first).",
    ),
    ErrorCode(
        code=AUTO_GRADED,
        on=("rest",),
        status=409,
        meaning="The question has a correct answer: it is graded automatically.",
    ),
    ErrorCode(
        code=NO_FACE,
        on=("rest",),
        status=422,
        meaning="The reference photo shows no face, or one too small to tell; nothing was kept.",
    ),
    ErrorCode(
        code=MULTIPLE_FACES,
        on=("rest",),
        status=422,
        meaning="The reference photo shows several faces; send one of the candidate alone.",
    ),
    ErrorCode(
        code=IDENTITY_OFF,
        on=("rest",),
        status=409,
        meaning="No face recognition model runs ([vision] recognition_model): identity is not "
        "checked.",
    ),
    ErrorCode(
        code=UNSUPPORTED_MEDIA_TYPE,
        on=("rest",),
        status=415,
        meaning="The body's Content-Type is not the one the endpoint takes (image/jpeg).",
    ),
    # Issue 24: screen-recording chunks (app/http/routes/screen.py).
    ErrorCode(
        code=CHUNK_OUT_OF_ORDER,
        on=("rest",),
        status=409,
        meaning="A chunk number ahead of the next one; send the chunk `next` names.",
    ),
    ErrorCode(
        code=CHUNK_CONFLICT,
        on=("rest",),
        status=409,
        meaning="That chunk number is stored already, with other bytes.",
    ),
    ErrorCode(
        code=WRONG_TYPE,
        on=("rest",),
        status=415,
        meaning="A chunk that is not video/webm or video/mp4, or not the recording's type.",
    ),
    ErrorCode(
        code=BAD_RANGE,
        on=("rest",),
        status=416,
        meaning="A Range header that is not bytes=A-B within the recording.",
    ),
    ErrorCode(
        code=QUOTA_EXCEEDED,
        on=("rest",),
        status=507,
        meaning="The screen recording reached [screen] quota_mb: recording stops, the exam not.",
    ),
)

CLOSE_BY_CODE: Final = {close.code: close for close in CLOSE_CODES}
ERROR_BY_CODE: Final = {error.code: error for error in ERROR_CODES}
