"""One catalogue of error codes: no module spells a code, the docs list exactly the codes."""

from __future__ import annotations

import re
from pathlib import Path

from app.errors import Code

ROOT = Path(__file__).resolve().parents[2]
LITERAL = re.compile(r"""["']E_[A-Z][A-Z0-9_]*["']""")


def test_no_module_but_the_catalogue_spells_an_error_code() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path.name != "errors.py" or path.parent.name != "app"
        for match in LITERAL.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_error_page_lists_exactly_the_catalogue() -> None:
    page = (ROOT / "docs" / "errors.md").read_text()
    documented = set(re.findall(r"^\| `(E_[A-Z0-9_]+)` \|", page, flags=re.M))
    assert documented == {code.value for code in Code}
