"""The behaviour factors are domain code: the layer rule of tests/test_layers.py, which looks at
the top of `actors/` only, holds for every module under it too, and they use no clock."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layers import ALLOWED, imported_roots

ACTORS = Path(__file__).resolve().parent.parent / "actors"
BEHAVIOUR = [ACTORS / "behaviour_events.py", *sorted((ACTORS / "behaviour").glob("**/*.py"))]
IMPURE = {"time", "datetime", "random", "os", "pathlib", "socket", "io", "zoneinfo"}


def test_behaviour_modules_import_only_the_domain_allow_list_and_nothing_impure() -> None:
    assert len(BEHAVIOUR) > 8
    offenders = {path.name: sorted(imported_roots(path) - (ALLOWED - IMPURE)) for path in BEHAVIOUR}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_behaviour_modules_open_no_files() -> None:
    for path in BEHAVIOUR:
        calls = {
            node.func.id
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert "open" not in calls, path.name


def test_behaviour_modules_stay_small() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in BEHAVIOUR}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
