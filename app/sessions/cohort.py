"""`CohortCheck`: collaboration (issue 28), the one behaviour factor that reads two sessions.

A session actor owns only its own session, so the comparison lives here, at the level of the
assessment: an actor tells `submitted(assessment, session)` when its candidate submits, and this
service's one task reads the session's answers from storage, compares them with every other
submitted session of the assessment (`actors/behaviour/collaboration.py`) and stores a finding
through each session's actor, naming the other, so the pair is linked both ways. No actor
reaches into another; this task owns the cross-session state.

State: per assessment, the answer sheets of its submitted sessions, rebuilt from storage the
first time the assessment is needed (so a restart loses nothing), kept for the
`[behaviour] cohort_assessments` most recently used assessments; and the pairs already flagged.
Queue: the submissions waiting, a dict keyed by session (a session submits once, so it holds at
most one entry per live session and needs no other bound); nothing is dropped, and a submission
waits for the journal to commit it before its answers are read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import msgspec
from anyio.abc import TaskStatus

from actors.behaviour import answer_sheet, collaboration
from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.collaboration import CollaborationConfig
from actors.behaviour.findings import Finding
from actors.behaviour_watch import answered
from actors.grading import Question
from actors.messages import Message, RecordEvent
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from actors.scoring import BEHAVIOUR_FLAGGED
from app.storage.store import SqliteStore
from app.telemetry.metrics import Metrics

log = logging.getLogger("vigil.cohort")

Send = Callable[[str, Message], Awaitable[None]]
_READ: Final = ("answer_submitted", BEHAVIOUR_FLAGGED)


class _Assessment:
    def __init__(self, questions: dict[str, Question]) -> None:
        self.questions = questions
        self.sheets: dict[str, AnswerSheet] = {}  # submitted session -> its answers
        self.flagged: set[tuple[str, str]] = set()  # (session, other) already stored


class CohortCheck:
    def __init__(
        self,
        store: SqliteStore,
        committed: Callable[[], Awaitable[None]],
        config: CollaborationConfig,
        now_iso: Callable[[], str],
        keep_assessments: int = 32,
    ) -> None:
        self._store = store
        self._committed = committed
        self._config = config
        self._now_iso = now_iso
        self._keep = keep_assessments
        self._pending: dict[str, str] = {}  # session -> assessment, in submission order
        self._wake = anyio.Event()
        self._cohorts: OrderedDict[str, _Assessment] = OrderedDict()
        self._busy = 0  # 1 while a check runs: pending + busy is 0 only when all is done
        self.checked_total = 0
        self.flagged_total = 0

    def submitted(self, assessment_id: str, session_id: str) -> None:
        self._pending[session_id] = assessment_id
        self._wake.set()

    def register_metrics(self, metrics: Metrics) -> None:
        metrics.gauge(
            "vigil_cohort_pending",
            "Submissions waiting for the collaboration check",
            lambda: len(self._pending) + self._busy,
        )
        metrics.counter(
            "vigil_cohort_checked_total", "Submissions compared", lambda: self.checked_total
        )
        metrics.counter(
            "vigil_cohort_flagged_total",
            "Collaboration findings stored",
            lambda: self.flagged_total,
        )

    async def run(
        self, send: Send, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._committed()  # the submissions' answers are in storage
            while self._pending:
                session_id = next(iter(self._pending))
                assessment_id = self._pending.pop(session_id)
                self._busy = 1
                try:
                    await self._check(send, assessment_id, session_id)
                except (UnknownSession, SessionFailed) as exc:
                    log.info("session %s: collaboration not checked: %s", session_id, exc)
                except RegistryClosed:
                    return
                finally:
                    self._busy = 0
                self.checked_total += 1

    async def _check(self, send: Send, assessment_id: str, session_id: str) -> None:
        cohort = await self._cohort(assessment_id, session_id)
        mine = await self._sheet(cohort, session_id)
        cohort.sheets[session_id] = mine
        others = {sid: sheet for sid, sheet in cohort.sheets.items() if sid != session_id}
        if not others:
            return
        everyone = collaboration.cohort_of(cohort.sheets.values())
        comparisons = len(others)
        for other_id, theirs in others.items():
            rest = collaboration.without(everyone, (mine, theirs))
            found = collaboration.finding(
                mine, theirs, other_id, rest, self._config, comparisons=comparisons
            )
            if found is None:
                continue
            back = collaboration.finding(
                theirs, mine, session_id, rest, self._config, comparisons=comparisons
            )
            await self._flag(send, cohort, session_id, found)
            if back is not None:
                await self._flag(send, cohort, other_id, back)

    async def _flag(self, send: Send, cohort: _Assessment, session_id: str, found: Finding) -> None:
        pair = (session_id, str(found.otherSessionId))
        if pair in cohort.flagged:
            return
        cohort.flagged.add(pair)
        self.flagged_total += 1
        data = msgspec.to_builtins(found)
        # Overflow policy: a full mailbox makes this wait, like any sender; findings are rare.
        await send(
            session_id,
            RecordEvent(type=BEHAVIOUR_FLAGGED, origin="server", ts=self._now_iso(), data=data),
        )

    async def _cohort(self, assessment_id: str, submitting: str) -> _Assessment:
        cohort = self._cohorts.get(assessment_id)
        if cohort is not None:
            self._cohorts.move_to_end(assessment_id)
            return cohort
        assessment = await self._store.assessment(assessment_id)
        questions = {} if assessment is None else {q.id: q for q in assessment.questions}
        cohort = _Assessment(questions)
        for record in await self._store.sessions(assessment_id=assessment_id, status="COMPLETED"):
            session_id = record.info().sessionId
            if session_id != submitting:
                cohort.sheets[session_id] = await self._sheet(cohort, session_id)
        self._cohorts[assessment_id] = cohort
        while len(self._cohorts) > self._keep:
            self._cohorts.popitem(last=False)
        return cohort

    async def _sheet(self, cohort: _Assessment, session_id: str) -> AnswerSheet:
        sheet = AnswerSheet()
        for event in await self._store.events_of_types(session_id, _READ):
            if event.type == BEHAVIOUR_FLAGGED:
                other = (event.data or {}).get("otherSessionId")
                if other:
                    cohort.flagged.add((session_id, str(other)))
            elif event.questionId is not None:
                seen = answered(event, cohort.questions.get(event.questionId))
                sheet = answer_sheet.fold(sheet, msgspec.structs.replace(seen, text=""))
        return sheet
