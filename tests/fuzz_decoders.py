"""An atheris harness for every decoder a hostile client reaches (issue 8): candidate events and
the header read for their errors, admin commands, and every REST body of `app.server.ENDPOINTS`.
Each may refuse its input only with the error its caller turns into an answer (msgspec's
ValidationError or DecodeError, RecursionError for JSON nested too deep, ApiError 400 or 422 for
REST); anything else is a crash, and atheris stops with it.

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
from pathlib import Path

import atheris
import msgspec

# Only the modules on the decoding path: instrumenting all of app/ takes seconds at start.
with atheris.instrument_imports(include=["app.http.bodies", "app.http.errors"]):
    from app.http.bodies import decode_json
    from app.http.errors import ApiError, validation_field
from actors.events import CANDIDATE_EVENT_DECODER, FRAME_HEADER_DECODER
from app.server import ENDPOINTS
from app.sockets.admin import COMMAND_DECODER

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
        msgspec.json.encode(decoded)  # what was accepted can be stored and sent on

    return decode


def rest_body(schema: type[object]) -> Target:
    def decode(payload: bytes) -> None:
        try:
            decoded = decode_json(payload, schema)
        except ApiError as exc:
            if exc.status not in (400, 422) or not exc.message:
                raise
            return
        msgspec.json.encode(decoded)

    return decode


TARGETS: list[Target] = [
    socket_text(CANDIDATE_EVENT_DECODER),
    socket_text(FRAME_HEADER_DECODER),
    socket_text(COMMAND_DECODER),
    *(rest_body(schema) for schema in dict.fromkeys(e.body for e in ENDPOINTS if e.body)),
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
]
TOKENS = ['"type"', '"seq"', '"ts"', '"data"', '"questionId"', '"channel"', '"sessionId"',
          '"action"', "null", "true", "1e400", "-0", "18446744073709551616", '"\\ud800"',
          '"\\u0000"', "{", "}", "[", "]", ":", ","]  # fmt: skip


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
