"""Axis ticks and labels for the report charts: "nice" numbers, calendar-aware time ticks."""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["fmt_value", "nice_range", "nice_ticks", "time_ticks"]

_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400)
_MONTH_STEPS = (1, 2, 3, 6)
_YEAR_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_DAY = 86400
_MONDAY_OFFSET = 4 * _DAY  # 1970-01-01 was a Thursday: weekly ticks fall on Mondays


def _step(span: float, target: int) -> float:
    """The 1-2-2.5-5 × 10^k step that gives at most about ``target`` intervals."""
    raw = span / max(1, target)
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if mult * power >= raw:
            return mult * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def nice_range(lo: float, hi: float, *, include_zero: bool = False) -> tuple[float, float]:
    """A non-empty range around ``lo … hi`` (a flat series gets some room)."""
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def nice_ticks(lo: float, hi: float, target: int = 6) -> tuple[list[float], float]:
    """Round tick values covering ``lo … hi`` and their step; the range may widen to them.

    Returns:
        The ticks (first ≤ lo, last ≥ hi) and the step between them.
    """
    lo, hi = nice_range(lo, hi)
    step = _step(hi - lo, target)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = round((last - first) / step)
    # Rounded, so a tick at 0.15 is 0.15 and not 0.15000000000000002.
    return [round(first + i * step, 12) for i in range(count + 1)], step


def _decimals(step: float) -> int:
    """How many decimals tell ticks ``step`` apart (0.025 → 3, 2.5 → 1, 20 → 0)."""
    for places in range(7):
        if abs(round(step, places) - step) <= 1e-9 * abs(step):
            return places
    return 6


def fmt_value(value: float | None, unit: str, *, step: float | None = None,
              digits: int = 2) -> str:
    """Format a number for display: never more than a dozen characters.

    Args:
        value: the number (None prints as an em dash).
        unit: ``pct`` (a fraction shown as percent), ``ratio``, ``count`` or ``periods``.
        step: a tick step; when given, just enough decimals to tell ticks apart.
        digits: decimals otherwise.
    """
    if value is None or not math.isfinite(value):
        return "—"
    scale, suffix = (100.0, "%") if unit == "pct" else (1.0, "")
    shown = value * scale
    if unit in ("count", "periods"):
        return f"{value:,.0f}"
    if abs(shown) >= 1e6:
        return f"{shown:.3g}{suffix}".replace("e+", "e")
    places = _decimals(step * scale) if step else digits
    text = f"{shown:,.{places}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = f"{0.0:.{places}f}"  # no "-0.00"
    return text + suffix


def _fmt_time(seconds: float, pattern: str) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(pattern)


def _month_ticks(lo: float, hi: float, months: int) -> list[float]:
    start = datetime.fromtimestamp(lo, tz=UTC)
    index = start.year * 12 + start.month - 1
    index += (-index) % months
    out: list[float] = []
    while True:
        moment = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()
        if moment > hi:
            return out
        if moment >= lo:
            out.append(moment)
        index += months


def time_ticks(lo: float, hi: float, target: int = 7) -> list[tuple[float, str]]:
    """Calendar-aligned ticks between two Unix times (seconds, UTC), with their labels.

    Steps run from seconds through days and weeks (Mondays) to months (1, 2, 3, 6) and
    years (1, 2, 5, 10, …); labels show what the step needs (``14:30``, ``03 Feb``,
    ``Mar 2025``, ``2025``).
    """
    span = max(hi - lo, 1.0)
    for step in _TIME_STEPS:
        if span / step <= target:
            offset = _MONDAY_OFFSET if step >= 7 * _DAY else 0
            first = math.ceil((lo - offset) / step) * step + offset
            values = [first + i * step for i in range(int((hi - first) // step) + 1)]
            if step < _DAY:
                pattern = "%H:%M:%S" if step < 60 else "%H:%M"
                multi_day = hi - lo > _DAY or _fmt_time(lo, "%d") != _fmt_time(hi, "%d")
                if multi_day:
                    pattern = "%d %b " + pattern
            else:
                pattern = "%d %b %Y" if span > 300 * _DAY else "%d %b"
            return [(v, _fmt_time(v, pattern)) for v in values]
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * _DAY) <= target:
            ticks = _month_ticks(lo, hi, months)
            # The year is printed on the first tick and on each January, not on every tick.
            return [(v, _fmt_time(v, "%b %Y" if i == 0 or _fmt_time(v, "%m") == "01" else "%b"))
                    for i, v in enumerate(ticks)]
    span_years = span / (365.25 * _DAY)
    years = next((y for y in _YEAR_STEPS if span_years / y <= target), _YEAR_STEPS[-1])
    months = years * 12
    return [(v, _fmt_time(v, "%Y")) for v in _month_ticks(lo, hi, months)]
