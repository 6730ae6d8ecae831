"""The diagrams in docs/img/diagrams/ are exactly what scripts/diagrams draws, and are used."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scripts.diagrams import OUT, render_all
from scripts.diagrams.svg import Drawing

ROOT = Path(__file__).resolve().parents[2]
DRAWN = render_all()


def test_committed_diagrams_are_what_the_code_draws() -> None:
    committed = {path.name: path.read_text() for path in OUT.glob("*.svg")}
    assert sorted(committed) == sorted(DRAWN), "run: python -m scripts.diagrams"
    stale = [name for name, svg in DRAWN.items() if committed[name] != svg]
    assert not stale, f"stale diagrams {stale}: run `python -m scripts.diagrams`"


@pytest.mark.parametrize("name", sorted(DRAWN))
def test_diagram_is_self_contained_svg(name: str) -> None:
    svg = DRAWN[name]
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.find("s:title", ns) is not None and root.find("s:desc", ns) is not None
    # Nothing fetched: no links, images, web fonts or external URLs.
    assert not re.search(r"href=|<image|@import|@font-face|url\((?!#)", svg), name


def test_every_diagram_is_shown_on_a_page() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    unused = [name for name in DRAWN if f"img/diagrams/{name}" not in pages]
    assert not unused, f"diagrams no page shows: {unused}"


def test_a_box_too_small_for_its_text_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        Drawing(200, 100, "t", "d").box(0, 0, 60, 40, "a title far too long")
