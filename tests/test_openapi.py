"""/openapi.json against the server that serves it: every operation is called with real clients,
and every answer, success or error, validates against the schema the document declares for its
path, method and status. A new endpoint without a call here fails the scenario."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support import RunningServer, eventually

pytestmark = pytest.mark.anyio

SESSION = "/candidate-sessions/{session_id}"
ASSESSMENT = {
    "id": "exam-openapi",
    "title": "Geography and arithmetic",
    "passMark": 60,
    "questions": [
        {"id": "q1", "category": "geography", "correctAnswer": "Paris", "difficulty": "easy"},
        {"id": "q2", "category": "math", "maxScore": 2, "correctAnswer": 42},
        {"id": "q3", "category": "essay", "maxScore": 10},  # no correct answer: graded by hand
    ],
}
# Requests that break the schema, and the field the 422 must name (CONTRACT.md section 3).
INVALID = [
    ("POST", f"{SESSION}/violations", {"json": {"type": "TAB", "severity": "SEVERE"}}, "severity"),
    ("POST", "/candidate-sessions", {"json": {"candidateName": "A", "assessmentId": "x"}}, "candidateEmail"),
    ("PUT", f"{SESSION}/tracking-data", {"json": {"questionId": "q1", "attempts": -1}}, "attempts"),
    ("GET", "/candidate-sessions", {"params": {"limit": "0"}}, "limit"),
    ("GET", f"{SESSION}/report", {"params": {"format": "pdf"}}, "format"),
    ("POST", f"{SESSION}/violations/{{violation_id}}/review", {"json": {"decision": "forget", "reason": "x"}}, "decision"),
    ("POST", f"{SESSION}/review", {"json": {"decision": "approve", "reason": "x"}}, "decision"),
    ("GET", "/session-reviews", {"params": {"verdict": "maybe"}}, "verdict"),
]  # fmt: skip
ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}  # {error: {code, message, field?}}
# POST operations of CONTRACT.md section 3 that take no body.
BODILESS = {("post", f"{SESSION}/calculate-verification-score")}


def _closed(node: Any) -> Any:
    """The schemas with every described object closed: an answer carrying a field the document
    does not declare is drift too (a generated client would drop it)."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if "properties" in node:
            node.setdefault("additionalProperties", False)
    elif isinstance(node, list):
        node = [_closed(value) for value in node]
    return node


class Api:
    """Calls operations by path template and validates each answer against the document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = _closed(document["components"])
        self.succeeded: set[tuple[str, str]] = set()  # (method, path template)
        self.failed: set[tuple[str, str, int]] = set()

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        template: str,
        status: int,
        ids: dict[str, str] | None = None,
        **request: Any,
    ) -> Any:
        response = await client.request(method, template.format(**(ids or {})), **request)
        assert response.status_code == status, f"{method} {template}: {response.text}"
        body = self.check(method.lower(), template, response)
        if status < 400:
            self.succeeded.add((method.lower(), template))
        else:
            self.failed.add((method.lower(), template, status))
        return body

    def check(self, method: str, template: str, response: httpx.Response) -> Any:
        responses = self.document["paths"][template][method]["responses"]
        declared = responses.get(str(response.status_code))
        assert declared is not None, (
            f"{method.upper()} {template} answered {response.status_code}, which the document "
            f"does not declare (it declares {sorted(responses)})"
        )
        if "content" not in declared:
            assert response.content == b"", f"{method.upper()} {template}: a body, none declared"
            return None
        media_type = response.headers["content-type"].split(";")[0]
        by_type = {name.split(";")[0]: value for name, value in declared["content"].items()}
        content = by_type.get(media_type)
        assert content is not None, (
            f"{method.upper()} {template} answered {media_type}; the document declares "
            f"{sorted(declared['content'])}"
        )
        body = response.json() if media_type == "application/json" else response.text
        schema = {**content["schema"], "components": self.components}
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(body)
        ]
        assert not errors, f"{method.upper()} {template} {response.status_code}: {errors}"
        return body


async def fetch_document(server: RunningServer) -> dict[str, Any]:
    async with server.http(token=None) as public:  # public: it describes, it holds no data
        response = await public.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


async def test_every_operation_answers_as_the_document_says(server: RunningServer) -> None:
    api = Api(await fetch_document(server))
    async with server.http() as admin:
        await api.call(admin, "POST", "/assessments", 201, json=ASSESSMENT)
        listed = await api.call(admin, "GET", "/assessments", 200)
        assert [a["id"] for a in listed] == [ASSESSMENT["id"]]
        await api.call(
            admin, "GET", "/assessments/{assessment_id}", 200, {"assessment_id": "exam-openapi"}
        )
        created = await api.call(
            admin, "POST", "/candidate-sessions", 201,
            json={"candidateEmail": "ada@example.com", "candidateName": "Ada Lovelace",
                  "candidatePhone": "+44 20 7946 0000", "assessmentId": "exam-openapi"},
        )  # fmt: skip
        ids = {"session_id": created["id"]}

    async with server.candidate(created["id"], created["candidateToken"]) as candidate:
        await candidate.event(1, "question_viewed", questionId="q1")
        await candidate.event(2, "answer_submitted", questionId="q1",
                              data={"response": {"answer": "Paris"}, "timeSpent": 12})  # fmt: skip
        await candidate.event(3, "tab_switch_detected", questionId="q1")
        await candidate.event(4, "device_info", data={"userAgent": "Firefox", "platform": "Linux"})
        await candidate.event(5, "focus_lost", data={"durationMs": 1500})
        await candidate.event(6, "heartbeat", data={"batteryLevel": 80, "cpuUsage": 0.3})
        await candidate.acked(6)

    async with server.http() as admin, server.http(token=created["candidateToken"]) as own:
        detail = await api.call(own, "GET", SESSION, 200, ids)
        assert detail["answers"] and detail["violations"] and detail["questionTracking"]
        assert detail["deviceInfo"] is not None
        await api.call(own, "PUT", SESSION, 200, ids, json={"currentQuestionIndex": 2})
        await api.call(
            own, "POST", f"{SESSION}/violations", 201, ids,
            json={"type": "TAB_SWITCH", "description": "Switched to another tab", "severity": "HIGH",
                  "timestamp": "2026-01-15T10:25:30Z", "metadata": {"duration": 5}, "questionId": "q1"},
        )  # fmt: skip
        await api.call(
            own, "PUT", f"{SESSION}/device-info", 200, ids,
            json={"userAgent": "Firefox", "platform": "Linux", "screenResolution": "1920x1080",
                  "colorDepth": 24, "pixelRatio": 2.0, "touchSupport": False},
        )  # fmt: skip
        await api.call(
            own, "PUT", f"{SESSION}/behavioral-profile", 200, ids,
            json={"totalTabSwitches": 1, "mouseMovementPattern": {"jitter": 0.2},
                  "behavioralScore": 0.7, "anomalyDetected": False},
        )  # fmt: skip
        await api.call(
            own, "PUT", f"{SESSION}/screen-recording", 200, ids,
            json={"recordingStartTime": "2026-01-15T10:00:00Z", "format": "webm",
                  "uploadStatus": "UPLOADING", "fileSize": 1024, "facialRecognitionData": {"faces": 1}},
        )  # fmt: skip
        await api.call(
            own, "PUT", f"{SESSION}/tracking-data", 200, ids,
            json={"questionId": "q2", "timeSpent": 30, "flagged": True, "metadata": {"hint": 1}},
        )  # fmt: skip
        listed = await api.call(
            admin, "GET", "/candidate-sessions", 200, params={"assessmentId": "exam-openapi"}
        )
        assert [s["id"] for s in listed] == [created["id"]]
        warned = await api.call(
            admin, "POST", f"{SESSION}/interventions", 200, ids,
            json={"action": "warn", "message": "Eyes on your own screen"},
        )  # fmt: skip
        assert warned["action"] == "warn" and warned["offset"] > 0
        submitted = await api.call(
            own, "POST", f"{SESSION}/submit", 200, ids,
            json={"totalTimeSpent": 600, "answers": [
                {"questionId": "q1", "response": {"answer": "Paris"}, "timeSpent": 12},
                {"questionId": "q2", "response": "41", "timeSpent": 30},
                {"questionId": "q3", "response": "An essay.", "timeSpent": 300,
                 "submittedAt": "2026-01-15T10:40:00Z"},
            ]},
        )  # fmt: skip
        assert submitted["session"]["status"] == "COMPLETED"
        grade = {"questionId": "q3", "score": 7, "comment": "Good"}
        graded = await api.call(admin, "POST", f"{SESSION}/grades", 201, ids, json=grade)
        assert (graded["score"], graded["scoringMethod"]) == (7, "manual")
        detail = await api.call(admin, "GET", SESSION, 200, ids)
        assert detail["scoreSummary"]["pendingManualGrading"] == 0
        await api.call(admin, "POST", f"{SESSION}/calculate-verification-score", 200, ids)
        violation_id = detail["violations"][0]["id"]
        reviewed = await api.call(
            admin, "POST", f"{SESSION}/violations/{{violation_id}}/review", 200,
            {**ids, "violation_id": violation_id},
            json={"decision": "dismiss", "reason": "The tab was the allowed calculator."},
        )  # fmt: skip
        assert reviewed["violation"]["review"]["decision"] == "dismiss"
        verdict = {"decision": "verify", "reason": "Checked the flagged moments."}
        await api.call(admin, "POST", f"{SESSION}/review", 200, ids, json=verdict)
        await api.call(admin, "GET", "/session-reviews", 200, params={"candidate": "ada"})
        await api.call(admin, "GET", f"{SESSION}/record", 200, ids, params={"download": "true"})
        frames = server.services.frames
        assert frames is not None
        frames.keep(created["id"], 1, b"\xff\xd8 a kept frame \xff\xd9", flagged=True)
        await eventually(lambda: 1 in frames.kept(created["id"]))
        await api.call(admin, "GET", f"{SESSION}/frames/{{frame}}", 200, {**ids, "frame": "1.jpg"})
        clips = server.services.clips  # issue 24: an audio episode's clip
        assert clips is not None
        clips.keep(created["id"], 2, b"RIFF a kept clip", flagged=True)
        await eventually(lambda: 2 in clips.kept(created["id"]))
        await api.call(
            admin, "GET", f"{SESSION}/audio-clips/{{clip}}", 200, {**ids, "clip": "2.wav"}
        )
        chunk = f"{SESSION}/screen-recording/chunks/{{n}}"  # issue 24: a screen recording
        headers = {"content-type": "video/webm"}
        stored = await api.call(
            admin, "PUT", chunk, 200, {**ids, "n": "0"}, content=b"webm", headers=headers
        )
        assert stored == {"stored": True, "next": 1, "fileSize": 4}
        video = await api.call(admin, "GET", f"{SESSION}/screen-recording/video", 200, ids)
        assert video == "webm"
        screens = server.services.screen
        assert screens is not None
        await screens.put_thumbnail(created["id"], b"\xff\xd8 a thumbnail \xff\xd9")
        await api.call(admin, "GET", f"{SESSION}/screen-recording/thumbnail.jpg", 200, ids)
        events = await api.call(admin, "GET", f"{SESSION}/events", 200, ids, params={"limit": 3})
        assert [e["offset"] for e in events] == [1, 2, 3]
        report = await api.call(admin, "GET", f"{SESSION}/report", 200, ids)
        assert report["scoreSummary"] is not None
        page = await api.call(
            admin, "GET", f"{SESSION}/report", 200, ids, params={"format": "html"}
        )
        assert "Ada Lovelace" in page
        csv = await api.call(admin, "GET", f"{SESSION}/report", 200, ids, params={"format": "csv"})
        assert csv.startswith("offset,ts,type,origin,seq,questionId,data")
        async with server.http(token=None) as anonymous:
            demo = await api.call(anonymous, "POST", "/demo/sessions", 201, json={})
        assert demo["questions"]
        audit = await api.call(admin, "GET", "/audit", 200, params={"sessionId": created["id"]})
        assert audit and audit[0]["actor"].startswith("admin:")
        chain = await api.call(admin, "GET", "/audit/verify", 200)
        assert chain["intact"] is True
        metrics = await api.call(admin, "GET", "/metrics", 200)
        assert "vigil" in metrics
        await api.call(admin, "GET", "/healthz", 200)
        # Vision is off here: the photo is refused as the document says. Its success needs the
        # vision pool and real faces: tests/test_identity_wiring.py.
        photo = f"{SESSION}/reference-photo"
        off = await api.call(
            admin,
            "PUT",
            photo,
            409,
            ids,
            content=b"\xff\xd8",
            headers={"content-type": "image/jpeg"},
        )
        assert off["error"]["code"] == "identity_off"
        check = await api.call(own, "GET", f"{SESSION}/system-check", 200, ids)
        assert check["calibration"] is False and check["consentText"]
        calibration = f"{SESSION}/calibration"
        await api.call(
            own,
            "POST",
            calibration,
            409,
            ids,
            content=b"\xff\xd8",
            headers={"content-type": "image/jpeg"},
        )
        assert await api.call(admin, "GET", "/webhooks/deliveries", 200) == []
        await api.call(admin, "DELETE", SESSION, 204, ids)

    needs_vision = {("put", photo), ("post", calibration)}
    assert api.succeeded | needs_vision == operations(api.document)


async def test_errors_answer_as_the_document_says(server: RunningServer) -> None:
    api = Api(await fetch_document(server))
    session_id, _ = await server.create_session()
    _, other_token = await server.create_session()
    ids = {"session_id": session_id, "violation_id": f"{session_id}:1:0"}
    async with (
        server.http() as admin,
        server.http(token=None) as anonymous,
        server.http(token=other_token) as other,
    ):
        malformed = await api.call(admin, "POST", "/candidate-sessions", 400, content=b"{")
        assert malformed["error"]["code"] == "invalid_json"
        await api.call(anonymous, "GET", SESSION, 401, ids)
        await api.call(other, "GET", SESSION, 403, ids)
        await api.call(admin, "GET", SESSION, 404, {"session_id": "no-such-session"})
        await api.call(admin, "GET", "/assessments/{assessment_id}", 404, {"assessment_id": "nope"})
        await api.call(admin, "POST", f"{SESSION}/submit", 200, ids, json={"answers": []})
        again = await api.call(admin, "POST", f"{SESSION}/submit", 409, ids, json={"answers": []})
        assert again["error"]["code"] == "already_submitted"
        huge = b" " * (server.settings.server.max_body_bytes + 1)
        too_large = await api.call(admin, "POST", f"{SESSION}/violations", 413, ids, content=huge)
        assert too_large["error"]["code"] == "too_large"
        for method, template, request, field in INVALID:
            invalid = await api.call(admin, method, template, 422, ids, **request)
            assert invalid["error"]["field"] == field, (template, invalid)
    assert {status for _, _, status in api.failed} >= {400, 401, 403, 404, 409, 413, 422}


async def test_the_document_is_served(server: RunningServer) -> None:
    async with server.http(token=None) as public:
        response = await public.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.json()["openapi"] == "3.1.0"


async def test_the_document_is_sane(server: RunningServer) -> None:
    document = await fetch_document(server)
    assert document["openapi"] == "3.1.0"
    for method, path in operations(document):
        operation = document["paths"][path][method]
        name = f"{method.upper()} {path}"
        assert any(status.startswith("2") for status in operation["responses"]), name
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == ERROR, (name, status)
        if method in ("post", "put") and (method, path) not in BODILESS:
            content = operation["requestBody"]["content"]
            assert all("schema" in body for body in content.values()) and content, name
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert declared == set(path.replace("}", "{").split("{")[1::2]), name
    operation_ids = [document["paths"][p][m]["operationId"] for m, p in operations(document)]
    assert len(operation_ids) == len(set(operation_ids))
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # 2020-12 is OpenAPI 3.1's dialect


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
