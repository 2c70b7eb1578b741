"""`actors/` is the domain: it imports only the standard library, anyio, msgspec and numpy, never
`app/` or a web, database or Kafka library (STYLE.md, "Layers")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ACTORS = Path(__file__).resolve().parent.parent / "actors"
ALLOWED = {"actors", "anyio", "msgspec", "numpy"} | set(sys.stdlib_module_names)


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_actors_imports_only_the_domain_allow_list() -> None:
    modules = sorted(ACTORS.glob("*.py"))
    assert len(modules) > 5
    offenders = {path.name: sorted(imported_roots(path) - ALLOWED) for path in modules}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_check_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import aiosqlite\nfrom app.server import build_app\nfrom starlette import websockets\n"
    )
    assert imported_roots(sneaky) - ALLOWED == {"aiosqlite", "app", "starlette"}
