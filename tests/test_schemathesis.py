"""Schemathesis against a real `vigil serve` (issue 21, what to build 4): every operation of
/openapi.json, every built-in check ("all"), positive and negative examples with the admin token.
A 5xx, an answer that breaks its schema, valid data refused or invalid data accepted fails the
build. The examples are bounded so the whole run costs well under a minute.

Half the cases name a real session (made fresh for the case: one may be deleted by the case),
so the bodies reach the handlers, not only the 404 of an unknown id. No string carries NUL
(U+0000): the server refuses it everywhere (actors/bounds.py) and the document says so, which a
JSON Schema pattern could only say field by field."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig

from app.access.idempotency import HEADER as IDEMPOTENCY_HEADER
from tests.support import ADMIN_TOKEN, ServerProcess, free_port

# Issue 24: screen-recording chunks are binary video bodies; send them as raw bytes.
schemathesis.serializer.alias(["video/webm", "video/mp4"], "application/octet-stream")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Per operation and mode: 2 x 10 x 27 operations in about half a minute. More for a deeper
# look: VIGIL_SCHEMATHESIS_EXAMPLES=200.
EXAMPLES = int(os.environ.get("VIGIL_SCHEMATHESIS_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Limits off: generated requests come fast and from one address.
    env = {
        "VIGIL_LIMITS_CANDIDATE_REQUESTS_PER_SECOND": "0",
        "VIGIL_LIMITS_ANONYMOUS_REQUESTS_PER_MINUTE": "0",
    }
    server = ServerProcess(Path(tmp_path_factory.mktemp("schemathesis")), free_port(), env)
    server.start()
    try:
        yield server
    finally:
        server.terminate()


def _real_session(server: ServerProcess) -> str:
    response = httpx.post(
        f"{server.url}/candidate-sessions",
        json={"candidateEmail": "a@b.c", "candidateName": "A", "assessmentId": "exam-1"},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


# Schemathesis's own list of answers that refuse invalid data (5xx are not_a_server_error's to
# judge), and 413: a negative case may be bigger than [server] max_body_bytes (10,001 generated
# answers of 500 bytes each), refused before anything is decoded.
REJECTIONS = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]


def _unique_question_ids(body: Any) -> None:
    """An assessment's question ids must differ: a rule JSON Schema cannot say of a list of
    objects (the server answers 422 naming the repeated id)."""
    questions = body.get("questions") if isinstance(body, dict) else None
    if isinstance(questions, list):
        for index, question in enumerate(questions):
            if isinstance(question, dict) and isinstance(question.get("id"), str):
                question["id"] = f"{question['id'][:190]}.{index}"


def _failure(
    operation: Any, mode: GenerationMode, server: ServerProcess, http: requests.Session
) -> str | None:
    """Run `operation`'s examples of `mode`; the first failure, shrunk, as text, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )
    def run(case: Case) -> None:
        parameters = case.path_parameters or {}
        if "session_id" in parameters and hash(repr(case.body)) % 2 == 0:
            session_id = _real_session(server)
            parameters["session_id"] = session_id
            if "violation_id" in parameters:
                parameters["violation_id"] = f"{session_id}:1:0"
        if mode is GenerationMode.POSITIVE and operation.label == "POST /assessments":
            _unique_question_ids(case.body)
        if mode is GenerationMode.POSITIVE and IDEMPOTENCY_HEADER in (case.headers or {}):
            # A key is state, not schema: one reused for another body is refused (422, as the
            # IETF draft says), however valid both requests are.
            case.headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
        case.call_and_validate(base_url=server.url, session=http, checks=CHECKS.get_all())

    try:
        run()
    except Unsatisfiable:
        return None  # nothing to break: an operation with no parameter has no negative case
    except (Exception, BaseExceptionGroup) as exc:  # what Schemathesis found, with the case
        return f"{operation.label} ({mode}): {exc}"
    return None


def test_the_api_keeps_its_document(served: ServerProcess) -> None:
    config = SchemathesisConfig.from_dict(
        {
            # The server ignores query parameters it does not know (as HTTP APIs do).
            "generation": {"allow-x00": False, "allow-extra-parameters": False},
            "auth": {"openapi": {"bearer": {"bearer": ADMIN_TOKEN}}},
            "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
        }
    )
    api = schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 25, [o.label for o in operations]
    failures = []
    with requests.Session() as http:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failure = _failure(operation, mode, served, http)
                if failure is not None:
                    failures.append(failure)
    assert not failures, "\n\n".join(failures)
