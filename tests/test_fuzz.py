"""Runs the atheris harness (tests/fuzz_decoders.py) for a few seconds in its own process: a
decoder that raises anything but its own refusals fails the test, with libFuzzer's report and
the input that did it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris has wheels for Linux x86_64 only (pyproject.toml)")

REPO = Path(__file__).resolve().parent.parent
SECONDS = 4


def test_the_decoders_survive_a_few_seconds_of_atheris(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Fixed seed: the same inputs on every run of the suite; a longer run by hand explores.
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_decoders", f"-max_total_time={SECONDS}", "-seed=1",
         "-max_len=4096", "-timeout=10", "-rss_limit_mb=1024",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    crashes = [path.name for path in tmp_path.glob("crash-*")]
    assert run.returncode == 0 and not crashes, f"{crashes}\n{run.stderr[-6000:]}"
    done = [line for line in run.stderr.splitlines() if line.startswith("Done ")]
    assert done, run.stderr[-3000:]
    runs = int(done[0].split()[1])
    assert runs > 10_000, done[0]  # it really fuzzed
