"""Architecture rule 7: Gateway and contracts code never imports WorldService code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PURE = ("gateway/orders.py", "gateway/constraints.py", "gateway/shared_account.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    sorted([*APP.glob("gateway/*.py"), *APP.glob("contracts/*.py")]),
    ids=lambda p: str(p.relative_to(APP)),
)
def test_no_worldservice_imports(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.startswith("app.worldservice")}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("relative", PURE)
def test_pure_modules_import_no_framework_or_io(relative: str) -> None:
    roots = {m.split(".")[0] for m in imported_modules(APP / relative)}
    assert not roots & {"litestar", "anyio", "httpx", "asyncio", "sqlite3", "structlog"}
