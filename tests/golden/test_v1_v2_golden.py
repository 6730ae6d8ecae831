"""v1 and v2 clients get byte-identical answers to those recorded before schema v3 existed."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from litestar.testing import TestClient

from app.settings import merge_tables
from tests.golden.cases import GOLDEN_PATH, collect


def test_every_v1_and_v2_answer_is_unchanged(
    make_client: Callable[..., TestClient[Any]], tmp_path: Path
) -> None:
    numbers = itertools.count()

    def fresh(overrides: dict[str, Any]) -> TestClient[Any]:
        # One store per deployment, as when the file was recorded.
        store = {"store": {"sqlite_path": str(tmp_path / f"g{next(numbers)}.sqlite3")}}
        return make_client(merge_tables(store, overrides))

    want = msgspec.json.decode(GOLDEN_PATH.read_bytes())
    got = collect(fresh)
    assert set(got) == set(want)
    changed = sorted(key for key in want if got[key] != want[key])
    assert not changed, f"{len(changed)} answers changed, first: {changed[0]}"
