"""The tutorial's commands still print what the page shows (ids and times aside)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts import tutorial_session
from scripts.tutorial_session import FOLDER, STEPS, mask

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "tutorial.md"


@pytest.mark.timeout(240)
def test_tutorial_commands_print_what_the_page_shows() -> None:
    session = tutorial_session.run(record=False)
    assert not session.problems, "\n\n".join(session.problems)
    assert set(session.outputs) == {p.stem for p in FOLDER.glob("*.out")}


def test_page_shows_every_step_and_output() -> None:
    included = set(re.findall(r'--8<-- "docs/tutorial/([^"]+)"', PAGE.read_text()))
    files = {p.name for p in FOLDER.iterdir()}
    assert included == files, (included ^ files)
    assert {f"{step.name}.sh" for step in STEPS} <= included


def test_mask_hides_ids_etags_and_times_only() -> None:
    text = ("preview 4e61e97a-c2b5-4754-9594-fc801e5bae05 (etag 281578fb615d7e3b67c3575dd2c81d26)"
            " expires 2026-11-30T15:13:16.689622+00:00; seq 4, qty -1.0")
    assert mask(text) == "preview <uuid> (etag <hex>) expires <time>; seq 4, qty -1.0"


def test_a_changed_output_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "health.out").write_text("ok: something else\n")
    monkeypatch.setattr(tutorial_session, "FOLDER", tmp_path)
    session = tutorial_session.Session(record=False)
    session.compare("health", "ok: http://127.0.0.1:8000 advertises rebalance_schema_version=1\n")
    assert session.problems and "health.out no longer matches" in session.problems[0]
