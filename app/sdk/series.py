"""Return series for reports: dates parsed, the returns' unit checked, a benchmark aligned."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.sdk.io import InputError, read_return_rows

__all__ = [
    "RETURNS_UNITS",
    "ReturnSeries",
    "align_benchmark",
    "apply_unit",
    "load_returns",
    "parse_dates",
    "returns_series",
]

Floats = NDArray[np.float64]
Dates = NDArray[np.datetime64]

RETURNS_UNITS = ("auto", "fraction", "percent")
"""``--returns-unit`` choices: ``auto`` refuses input that looks like percent."""


@dataclass(frozen=True, slots=True)
class ReturnSeries:
    """Finite per-period returns, with their end dates when the input had them.

    Attributes:
        values: the returns as fractions (0.01 = +1 %).
        dates: the end date of each period (``datetime64[s]``), or None.
        start: when the equity curve starts (the first price's date for a backtest).
        dropped: rows dropped because their return was not finite.
    """

    values: Floats
    dates: Dates | None = None
    start: np.datetime64 | None = None
    dropped: int = 0


def _parse_one(cell: str, where: str) -> np.datetime64:
    try:
        moment = datetime.fromisoformat(cell.strip())
    except ValueError:
        raise InputError(f"{where}: {cell!r} is not an ISO 8601 date") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "s")


def parse_dates(cells: list[str], where: str) -> Dates:
    """Parse ISO 8601 dates or date-times (offsets are turned into UTC), strictly increasing.

    Args:
        cells: the date strings, one per row.
        where: the file, named in errors.

    Returns:
        A ``datetime64[s]`` array.

    Raises:
        InputError: a cell is not a date, or the dates do not increase.
    """
    # A date needs at least YYYY-MM-DD: numpy would read "7" or "2025" as years.
    short = next((i for i, c in enumerate(cells)
                  if len(c.strip()) < 10 or c.strip()[4:5] != "-" or c.strip()[7:8] != "-"), None)
    if short is not None:
        raise InputError(f"{where}: row {short + 1}: {cells[short]!r} is not an ISO 8601 date "
                         "(YYYY-MM-DD, optionally with a time)")
    try:
        # numpy parses a whole column at once; it warns about (and we then re-read one by
        # one) date-times with offsets, and refuses anything else it cannot read.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dates = np.array([c.strip() for c in cells], dtype="datetime64[s]")
    except (ValueError, DeprecationWarning, UserWarning):
        dates = np.array([_parse_one(c, f"{where}: row {i + 1}") for i, c in enumerate(cells)],
                         dtype="datetime64[s]")
    if np.isnat(dates).any():
        row = int(np.flatnonzero(np.isnat(dates))[0])
        raise InputError(f"{where}: row {row + 1}: missing date")
    steps = np.diff(dates) <= np.timedelta64(0, "s")
    if steps.any():
        row = int(np.flatnonzero(steps)[0]) + 1
        raise InputError(f"{where}: row {row + 1}: dates must increase ({cells[row - 1]!r} "
                         f"then {cells[row]!r})")
    return dates


def apply_unit(values: Floats, unit: str, where: str) -> Floats:
    """Turn returns into fractions, refusing what looks like percent unless told the unit.

    ``auto`` refuses a series in which more than half of the non-zero returns have
    ``|r| ≥ 1`` (a move of 100 % or more per period is implausible; 1.5 meaning 1.5 % is
    likely), or any return below −1 (a loss of more than everything).

    Args:
        values: the returns as read (finite).
        unit: ``auto``, ``fraction`` (taken as given) or ``percent`` (divided by 100).
        where: the file or option, named in errors.

    Returns:
        The returns as fractions.

    Raises:
        InputError: ``auto`` and the values look like percent, or an unknown unit.
    """
    if unit == "percent":
        return values / 100.0
    if unit == "fraction":
        return values
    if unit != "auto":
        raise InputError(f"unknown returns unit {unit!r}; choose one of {', '.join(RETURNS_UNITS)}")
    moved = int(np.count_nonzero(values))
    big = int(np.count_nonzero(np.abs(values) >= 1.0))
    hint = ("pass --returns-unit percent if 1.5 means 1.5 %, or --returns-unit fraction if "
            "1.5 means +150 %")
    if moved and 2 * big > moved:
        raise InputError(f"{where} looks like percent: |r| ≥ 1 in {big} of {moved} non-zero "
                         f"returns; {hint}")
    if (values < -1.0).any():
        row = int(np.flatnonzero(values < -1.0)[0])
        raise InputError(f"{where}: return {values[row]:g} (row {row + 1}) loses more than "
                         f"everything as a fraction; {hint}")
    return values


def returns_series(
    values: list[float] | Floats, date_cells: list[str] | None, where: str, *,
    unit: str = "fraction", start: np.datetime64 | None = None,
) -> ReturnSeries:
    """Build a series from raw returns and date cells: non-finite rows dropped, unit applied.

    Raises:
        InputError: the dates are malformed or not as many as the returns, or the unit check
            refuses the values.
    """
    raw = np.asarray(values, dtype=np.float64)
    dates = None
    if date_cells is not None:
        if len(date_cells) != len(raw):
            raise InputError(f"{where}: {len(date_cells)} dates for {len(raw)} returns")
        dates = parse_dates(date_cells, where)
    keep = np.isfinite(raw)
    clean = apply_unit(raw[keep], unit, where)
    return ReturnSeries(values=clean, dates=None if dates is None else dates[keep],
                        start=start, dropped=int(len(raw) - keep.sum()))


def load_returns(path: str | Path, unit: str = "auto") -> ReturnSeries:
    """Read a returns file (JSON or CSV, optionally dated) into a checked series.

    Raises:
        InputError: unreadable or malformed file, or returns that look like percent.
    """
    values, cells = read_return_rows(path)
    return returns_series(values, cells, str(path), unit=unit)


def align_benchmark(series: ReturnSeries, benchmark: ReturnSeries) -> tuple[ReturnSeries, Floats]:
    """Pair the strategy with a benchmark: by date when both are dated, else by position.

    Returns:
        The strategy restricted to the common periods, and the benchmark's returns there.

    Raises:
        InputError: no common dates, or undated series of different lengths.
    """
    if series.dates is not None and benchmark.dates is not None:
        common, mine, theirs = np.intersect1d(series.dates, benchmark.dates, assume_unique=True,
                                              return_indices=True)
        if len(common) == 0:
            raise InputError("the benchmark shares no date with the returns")
        kept = ReturnSeries(values=series.values[mine], dates=common, start=series.start,
                            dropped=series.dropped)
        return kept, benchmark.values[theirs]
    if len(series.values) != len(benchmark.values):
        raise InputError(
            f"the benchmark has {len(benchmark.values)} returns and the series "
            f"{len(series.values)}; give both a date column or the same number of rows")
    return series, benchmark.values
