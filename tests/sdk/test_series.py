"""Return series for reports: dates from the file, percent-looking input refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.sdk.io import InputError
from app.sdk.series import apply_unit, load_returns, parse_dates

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_carry_dates() -> None:
    for name in ("returns.csv", "returns.json"):
        series = load_returns(EXAMPLES / name)
        assert series.dates is not None and len(series.dates) == len(series.values) == 60
        assert str(series.dates[0])[:10] == "2025-01-02"


def test_csv_dates_and_non_finite_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("date,return\n2025-01-02,0.01\n2025-01-03,nan\n2025-01-06,-0.02\n")
    series = load_returns(path)
    assert series.values.tolist() == [0.01, -0.02] and series.dropped == 1
    assert [str(d)[:10] for d in series.dates] == ["2025-01-02", "2025-01-06"]


def test_json_dates_must_match_the_returns(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"returns": [0.1, 0.2], "dates": ["2025-01-01"]}')
    with pytest.raises(InputError, match="1 dates for 2 returns"):
        load_returns(path)
    path.write_text('{"returns": [0.1], "dates": [20250101]}')
    with pytest.raises(InputError, match="list of ISO 8601 strings"):
        load_returns(path)


def test_parse_dates_accepts_offsets_and_refuses_disorder() -> None:
    dates = parse_dates(["2025-01-02T10:00:00+02:00", "2025-01-02T09:00:00Z"], "f")
    assert [str(d) for d in dates] == ["2025-01-02T08:00:00", "2025-01-02T09:00:00"]
    with pytest.raises(InputError, match="row 2: dates must increase"):
        parse_dates(["2025-01-03", "2025-01-02"], "f")
    with pytest.raises(InputError, match="row 2: 'soon' is not an ISO 8601 date"):
        parse_dates(["2025-01-03", "soon"], "f")
    with pytest.raises(InputError, match="row 1: '7' is not an ISO 8601 date"):
        parse_dates(["7", "8"], "f")
    with pytest.raises(InputError, match="row 2: '2025-13-01' is not an ISO 8601 date"):
        parse_dates(["2025-01-03", "2025-13-01"], "f")


@pytest.mark.parametrize(
    ("values", "message"),
    [([1.5, -2.0, 0.3, 1.1], "looks like percent: |r| ≥ 1 in 3 of 4"),
     ([0.5, -1.5, 0.2, 0.1], "loses more than everything")],
)
def test_percent_looking_input_is_refused(values: list[float], message: str) -> None:
    with pytest.raises(InputError, match="--returns-unit percent") as info:
        apply_unit(np.array(values), "auto", "r.csv")
    assert message in str(info.value)


def test_units_say_how_to_read_it() -> None:
    values = np.array([1.5, -2.0, 0.0])
    assert apply_unit(values, "percent", "x").tolist() == [0.015, -0.02, 0.0]
    assert apply_unit(values, "fraction", "x") is values
    assert apply_unit(np.array([0.01, 0.0, 0.0]), "auto", "x").tolist() == [0.01, 0.0, 0.0]
