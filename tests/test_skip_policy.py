"""The skip policy (tests/skip_policy.py): under CI a skip fails the run; outside CI only the
expected ones pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import skip_policy
from tests.support import REPO

DIST = ("tests/test_dist.py::test_x", "/x/dist/vigil is not built: run `make dist`")
OTHER = ("tests/test_rest.py::test_y", "no network here")


def test_outside_ci_only_the_expected_skips_pass() -> None:
    assert skip_policy.unexpected([DIST], ci=False) == []
    assert skip_policy.unexpected([DIST, OTHER], ci=False) == [OTHER]


def test_under_ci_no_skip_passes() -> None:
    assert skip_policy.unexpected([DIST], ci=True) == [DIST]
    assert skip_policy.in_ci() is bool(
        os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    )


def _run(folder: Path, ci: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return run.returncode


def test_a_run_with_an_unexpected_skip_fails(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_logreport, pytest_sessionfinish  # noqa\n"
    )
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\ndef test_probe():\n    pytest.skip('no network here')\n"
    )
    assert _run(tmp_path, ci="true") == 1
    assert _run(tmp_path, ci=None) == 1  # not on the local list either
    (tmp_path / "test_probe.py").write_text("def test_probe():\n    pass\n")
    assert _run(tmp_path, ci="true") == 0
