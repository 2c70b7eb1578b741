"""The demo assessment behind `/demo`: a few questions anyone can take to see Vigil work end to end.

`POST /demo/sessions` opens a session in it without the admin token, so it is off unless
`[demo] enabled`, and limited per client address. The questions' text lives here so the page and
the grading agree; the correct answers never leave the server."""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.exam_policy import Escalation, Proctoring
from actors.grading import Assessment, AssessmentDefinition, Question
from app.access.ratelimit import RequestLimits
from app.http.bodies import decode_json, json_response, now_iso, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.routes.sessions import CreateSessionBody, SessionOpener
from app.storage.journal import SqliteJournal
from app.storage.store import SqliteStore

DEMO_ASSESSMENT_ID: Final = "vigil-demo"


class DemoQuestion(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    choices: list[str] | None = None  # None: a free answer


class DemoSessionBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    candidateName: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "Demo candidate"


class DemoSession(msgspec.Struct, frozen=True, kw_only=True):
    sessionId: str
    candidateToken: str
    assessmentId: str
    title: str
    questions: list[DemoQuestion]


_QUESTIONS: Final = [
    (DemoQuestion(id="q1", text="Which planet is known as the Red Planet?",
                  choices=["Venus", "Mars", "Jupiter", "Saturn"]), "Mars"),
    (DemoQuestion(id="q2", text="What is 12 x 12?"), 144),
    (DemoQuestion(id="q3", text="Which HTTP status code means 'Not Found'?",
                  choices=["200", "301", "404", "500"]), "404"),
    (DemoQuestion(id="q4", text="In one sentence: why should a proctoring verdict be "
                  "explainable?"), None),
]  # fmt: skip
TITLE: Final = "Vigil demo assessment"
DEFINITION: Final = AssessmentDefinition(
    id=DEMO_ASSESSMENT_ID,
    title=TITLE,
    questions=[
        Question(id=question.id, category="demo", maxScore=1.0, correctAnswer=correct)
        for question, correct in _QUESTIONS
    ],
    passMark=50.0,
    # Exam control: ten minutes; the escalation is `[demo] escalation` (actors/exam_policy.py).
    durationSeconds=600.0,
)


class DemoRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        enabled: bool,
        limits: RequestLimits,
        opener: SessionOpener,
        journal: SqliteJournal,
        store: SqliteStore,
        max_body_bytes: int,
        escalation: Escalation = "standard",
    ) -> None:
        self._escalation = escalation
        self._enabled = enabled
        self._limits = limits
        self._opener = opener
        self._journal = journal
        self._store = store
        self._max_body_bytes = max_body_bytes

    async def create_demo_session(self, request: Request) -> Response:
        if not self._enabled:
            raise ApiError(
                404, "not_found", "the demo is off on this server; set [demo] enabled = true"
            )
        self._limits.check_anonymous(request.client.host if request.client else "unknown")
        raw = await read_body(request, self._max_body_bytes)
        body = decode_json(raw or b"{}", DemoSessionBody)
        await self._ensure_assessment()
        created: dict[str, Any] = msgspec.json.decode(
            await self._opener.open(
                request,
                CreateSessionBody(
                    candidateEmail="demo@vigil.invalid",
                    candidateName=body.candidateName,
                    assessmentId=DEMO_ASSESSMENT_ID,
                ),
                None,
            )
        )
        answer = DemoSession(
            sessionId=created["id"],
            candidateToken=created["candidateToken"],
            assessmentId=DEMO_ASSESSMENT_ID,
            title=TITLE,
            questions=[question for question, _ in _QUESTIONS],
        )
        return json_response(answer, status=201)

    async def _ensure_assessment(self) -> None:
        if await self._store.assessment(DEMO_ASSESSMENT_ID) is not None:
            return
        policy = {"proctoring": Proctoring(escalation=self._escalation)}
        assessment = Assessment(
            **{**msgspec.structs.asdict(DEFINITION), **policy}, createdAt=now_iso()
        )
        # False when another request defined it first: the same definition either way.
        await self._journal.create_assessment(
            assessment.id, msgspec.json.encode(assessment), assessment.createdAt, None
        )


ENDPOINTS = [
    Endpoint(
        "POST", "/demo/sessions", DemoRoutes.create_demo_session,
        "Open a session in the demo assessment (when [demo] enabled)", DemoSession, status=201,
        body=DemoSessionBody, body_rule="optional", auth="none", errors=(400, 404, 413, 422, 429),
    ),
]  # fmt: skip
