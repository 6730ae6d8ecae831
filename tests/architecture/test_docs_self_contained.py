"""The user documentation stands on its own: no pointers into files or trackers users lack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])
# The internal contract's section numbers, the seed document the project started from, and
# numbered issues of a tracker readers cannot see.
FORBIDDEN = re.compile(r"SPEC\s*§|§\s*\d|\bseed'?s?\b|\bissue\s*#?\d+|#\d{2,}\b", re.I)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_cites_nothing_a_user_cannot_follow(page: Path) -> None:
    found = [f"{page.name}:{n}: {line.strip()}"
             for n, line in enumerate(page.read_text().splitlines(), start=1)
             if FORBIDDEN.search(line)]
    assert not found, "\n".join(found)
