"""An atheris harness for every decoder a hostile client reaches (issue 8): candidate events and
the header read for their errors, admin commands, and every REST body of `app.server.ENDPOINTS`.
Each may refuse its input only with the error its caller turns into an answer (msgspec's
ValidationError or DecodeError, RecursionError for JSON nested too deep, ApiError 400 or 422 for
REST); anything else is a crash, and atheris stops with it. What a decoder accepts must also be
storable: every time converts to UTC (`iso_ms`), no text holds NUL (issue 21's limits,
actors/bounds.py). One more target sends its input as a burst of frames through a candidate
socket's link: refusals never evict a reader, and the errors waiting stay bounded.

`tests/test_fuzz.py` runs it for a few seconds. By hand, longer, keeping what it finds:
    mkdir -p corpus && .venv/bin/python -m tests.fuzz_decoders -max_total_time=600 corpus/
The first byte of an input picks the decoder (modulo their number), the rest is the input. An
empty corpus folder is first given valid inputs for every decoder to mutate, and libFuzzer a
dictionary of JSON tokens: msgspec is C that atheris does not instrument, so coverage alone
would not steer it into well-formed JSON."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import atheris
import msgspec

# Only the modules on the decoding path: instrumenting all of app/ takes seconds at start.
with atheris.instrument_imports(include=["app.http.bodies", "app.http.errors"]):
    from app.http.bodies import decode_json
    from app.http.errors import ApiError, validation_field
from actors import outbound
from actors.events import CANDIDATE_EVENT_DECODER, FRAME_HEADER_DECODER, iso_ms
from app.server import ENDPOINTS
from app.sockets.admin import COMMAND_DECODER
from app.sockets.candidate_writer import MAX_PENDING_ERRORS, CandidateSocketLink
from app.telemetry.metrics import Metrics

Target = Callable[[bytes], None]
REFUSALS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)


def socket_text(decoder: msgspec.json.Decoder[object]) -> Target:
    """As a socket decodes a text frame: uvicorn hands over a str, never invalid UTF-8."""

    def decode(payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace")
        try:
            decoded = decoder.decode(text)
        except msgspec.ValidationError as exc:
            validation_field(exc)  # the socket names the field in its error
            return
        except REFUSALS:
            return
        storable(decoded)

    return decode


def storable(decoded: object) -> None:
    """What was accepted can be stored and sent on: encoded, its times in UTC, no NUL."""
    encoded = msgspec.json.encode(decoded)
    if b"\\u0000" in encoded:
        raise AssertionError(f"a NUL got through: {encoded[:200]!r}")
    for moment in _moments(decoded):
        iso_ms(moment)  # OverflowError: a time off the calendar got through


def _moments(value: object) -> list[datetime]:
    if isinstance(value, datetime):
        return [value]
    if isinstance(value, msgspec.Struct):
        return [m for name in value.__struct_fields__ for m in _moments(getattr(value, name))]
    if isinstance(value, list | tuple):
        return [m for item in value for m in _moments(item)]
    if isinstance(value, dict):
        return [m for item in value.values() for m in _moments(item)]
    return []


class _Unsent:
    client = None


def refusal_burst(payload: bytes) -> None:
    """The input's lines as frames sent back to back, each refused one answered as the socket
    answers it, none sent on (the writer never runs: a client reading slowly)."""
    link = CandidateSocketLink(_Unsent(), 8, Metrics())  # type: ignore[arg-type]
    for line in payload.decode("utf-8", errors="replace").split("\n"):
        try:
            CANDIDATE_EVENT_DECODER.decode(line)
        except REFUSALS as exc:
            link.refuse(outbound.encode(outbound.Error(code="invalid_event", message=str(exc))))
    if link.closing or len(link._errors) > MAX_PENDING_ERRORS:
        raise AssertionError("refused frames evicted a reader, or their errors piled up")


def rest_body(schema: type[object]) -> Target:
    def decode(payload: bytes) -> None:
        try:
            decoded = decode_json(payload, schema)
        except ApiError as exc:
            if exc.status not in (400, 422) or not exc.message:
                raise
            return
        storable(decoded)

    return decode


TARGETS: list[Target] = [
    socket_text(CANDIDATE_EVENT_DECODER),
    socket_text(FRAME_HEADER_DECODER),
    socket_text(COMMAND_DECODER),
    *(rest_body(schema) for schema in dict.fromkeys(e.body for e in ENDPOINTS if e.body)),
    refusal_burst,
]


TS = '"ts":"2026-11-22T10:00:00.000Z"'
SEEDS = [
    '{"type":"answer_submitted","seq":1,' + TS + ',"questionId":"q1",'
    '"data":{"response":"Paris","timeSpent":12}}',
    '{"type":"focus_lost","seq":2,' + TS + ',"data":{"durationMs":6000}}',
    '{"type":"device_info","seq":3,' + TS + ',"data":{"userAgent":"x","screenResolution":"1x1"}}',
    '{"type":"subscribe","channel":"session:s-1"}',
    '{"type":"intervene","sessionId":"s-1","action":"warn","message":"eyes on the screen"}',
    '{"candidateEmail":"a@example.com","candidateName":"Ada","assessmentId":"exam-1"}',
    '{"status":"PAUSED","currentQuestionIndex":2}',
    '{"answers":[{"questionId":"q1","response":"Paris","timeSpent":3}],"totalTimeSpent":30}',
    '{"type":"TAB_SWITCH","description":"d","severity":"LOW",' + TS + ',"metadata":{"a":1}}',
    '{"questionId":"q1","timeSpent":3,"visits":1,"score":4,"decision":"dismiss","reason":"ok"}',
    '{"id":"exam-1","passMark":60,"questions":[{"id":"q1","category":"c","maxScore":5}]}',
    "[" * 3000,
    # At and past the limits (actors/bounds.py): times an offset pushes off the calendar, seqs
    # and integers at SQLite's 64 bits, durations past their bound, NUL in ids and text.
    '{"type":"heartbeat","seq":9007199254740992,"ts":"9999-12-31T23:59:59-23:59"}',
    '{"type":"heartbeat","seq":1,"ts":"0001-01-01T00:00:00+00:01"}',
    '{"type":"heartbeat","seq":1,"ts":"9999-12-31T23:59:59.999999Z"}',
    '{"type":"focus_lost","seq":1,' + TS + ',"data":{"durationMs":9223372036854775808}}',
    '{"type":"idle_detected","seq":1,' + TS + ',"data":{"seconds":1e308}}',
    '{"type":"question_viewed","seq":1,' + TS + ',"questionId":"q\\u0000z"}',
    '{"type":"heartbeat","seq":1,' + TS + ',"data":{"note":"a\\u0000"}}',
    '{"questionId":"q1","attempts":673.0,"timeSpent":1e9,"metadata":{"k\\u0000":1}}',
    '{"type":"X","severity":"LOW","timestamp":"9999-12-31T23:59:59-23:59"}',
    '{"recordingStartTime":"0001-01-01T00:00:00+23:59","fileSize":9223372036854775807}',
    "\n".join(['{"type":"heartbeat","seq":1,"ts":"x"}'] * 40),
]
TOKENS = ['"type"', '"seq"', '"ts"', '"data"', '"questionId"', '"channel"', '"sessionId"',
          '"action"', "null", "true", "1e400", "-0", "18446744073709551616", '"\\ud800"',
          '"\\u0000"', "{", "}", "[", "]", ":", ",", "-23:59", "+23:59", "9999-12-31T23:59:59",
          "0001-01-01T00:00:00", "9223372036854775807", "9223372036854775808", "1e308", "1.0",
          "9007199254740993", "\\u0000"]  # fmt: skip


def test_one_input(data: bytes) -> None:
    if data:
        TARGETS[data[0] % len(TARGETS)](data[1:])


def dictionary_entry(token: str) -> str:
    """A line of a libFuzzer dictionary: the token quoted, with `\\` and `"` escaped."""
    escaped = token.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"\n'


def prepare(argv: list[str], scratch: Path) -> list[str]:
    """Seed the empty corpus folders of `argv`; add the dictionary unless one is given."""
    for arg in argv[1:]:
        folder = Path(arg)
        if not arg.startswith("-") and folder.is_dir() and not any(folder.iterdir()):
            for index in range(len(TARGETS)):
                for number, seed in enumerate(SEEDS):
                    (folder / f"seed-{index}-{number}").write_bytes(bytes([index]) + seed.encode())
    if any(arg.startswith("-dict=") for arg in argv):
        return argv
    dictionary = scratch / "json.dict"
    dictionary.write_text("".join(dictionary_entry(token) for token in TOKENS))
    return [*argv, f"-dict={dictionary}"]


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        atheris.Setup(prepare(sys.argv, Path(scratch)), test_one_input)
        atheris.Fuzz()


if __name__ == "__main__":
    main()
