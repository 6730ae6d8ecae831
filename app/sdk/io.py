"""Reading the CLI's input files (returns, prices, positions, policies) and allocation
arguments."""

from __future__ import annotations

import csv
import gc
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import PositionSlice

__all__ = [
    "InputError",
    "parse_allocations",
    "read_policy",
    "read_positions",
    "read_price_rows",
    "read_prices",
    "read_return_rows",
    "read_returns",
]


class InputError(ValueError):
    """An input file or argument is unreadable or malformed; the message says why."""


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_json(path: Path) -> Any:
    try:
        return msgspec.json.decode(_read_bytes(path))
    except msgspec.DecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc
    lines = text.splitlines()
    # A million small row lists make the cyclic GC rescan the growing list again and again
    # (quadratic-looking pauses); rows hold only strings, so collection can wait.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Without quotes a plain split is the same parse, faster than csv.reader.
        rows = [line.split(",") for line in lines] if '"' not in text else list(
            csv.reader(lines))
        # Blank lines (and rows of empty cells) are skipped.
        return [row for row in rows if row and (row[0].strip() or any(c.strip() for c in row))]
    finally:
        if was_enabled:
            gc.enable()


def _float(value: object, where: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}") from None


def _floats(values: list[Any], where: Callable[[int], str], *, json: bool = False) -> list[float]:
    """Convert a column in one fast pass; on failure, name the first bad entry."""
    try:
        if json and not all(type(v) is float or type(v) is int for v in values):
            raise TypeError
        return [float(v) for v in values]
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            if json and not (type(v) is float or type(v) is int):
                raise InputError(f"{where(i)}: expected a number, got {v!r}") from None
            _float(v, where(i))
        raise  # not reached: some entry failed above


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column(rows: list[list[str]], names: tuple[str, ...], path: Path) -> tuple[int, int]:
    """Pick the value column and the first data row; a header is optional."""
    if not rows:
        raise InputError(f"{path} has no rows")
    header = [c.strip().lower() for c in rows[0]]
    if all(_is_number(c) for c in header if c):
        return len(header) - 1, 0
    for name in names:
        if name in header:
            return header.index(name), 1
    raise InputError(f"{path}: no column named {' or '.join(names)} (header: {rows[0]})")


_DATE_NAMES = ("date", "datetime", "timestamp", "time")


def _date_cells(rows: list[list[str]], start: int) -> list[str] | None:
    """The cells of the date column (``date``, ``datetime``, ``timestamp`` or ``time``)."""
    if start == 0:
        return None
    header = [c.strip().lower() for c in rows[0]]
    for name in _DATE_NAMES:
        if name in header:
            col = header.index(name)
            return [row[col].strip() if col < len(row) else "" for row in rows[start:]]
    return None


def read_return_rows(path: str | Path) -> tuple[list[float], list[str] | None]:
    """Read per-period returns and, when the file has them, the dates as written.

    JSON: ``{"returns": [...]}`` with an optional ``"dates": [...]`` list of the same
    length. CSV: a ``return``/``returns`` column (or the last column when there is no
    header) and an optional ``date`` (``datetime``, ``timestamp``, ``time``) column.

    Raises:
        InputError: unreadable file, missing ``returns`` key, or a non-number entry.
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        obj = _read_json(p)
        if not isinstance(obj, dict) or "returns" not in obj:
            raise InputError(f'{p}: expected a JSON object with a "returns" list')
        values = obj["returns"]
        if not isinstance(values, list):
            raise InputError(f'{p}: "returns" must be a list of numbers')
        dates = obj.get("dates")
        if dates is not None and not (
            isinstance(dates, list) and all(isinstance(d, str) for d in dates)
        ):
            raise InputError(f'{p}: "dates" must be a list of ISO 8601 strings')
        return _floats(values, lambda i: f"{p}: returns[{i}]", json=True), dates
    rows = _csv_rows(p)
    col, start = _column(rows, ("return", "returns", "ret"), p)
    values = _floats([row[col] if col < len(row) else "" for row in rows[start:]],
                     lambda i: f"{p}: line {i + start + 1}")
    return values, _date_cells(rows, start)


def read_returns(path: str | Path) -> list[float]:
    """Read per-period returns from ``{"returns": [...]}`` JSON or a CSV column.

    CSV: a ``return``/``returns`` column, or the last column when there is no header.
    Non-finite values are kept (the metrics drop them).

    Raises:
        InputError: unreadable file, missing ``returns`` key, or a non-number entry.
    """
    return read_return_rows(path)[0]


def read_prices(path: str | Path) -> list[float]:
    """Read a price series from a CSV ``close``/``price`` column (or the last column).

    Raises:
        InputError: unreadable file, no price column, or a price that is not finite and > 0.
    """
    return read_price_rows(path)[0]


def read_price_rows(path: str | Path) -> tuple[list[float], list[str] | None]:
    """Read prices as ``read_prices`` does, and the date column's cells when there is one.

    Raises:
        InputError: unreadable file, no price column, or a price that is not finite and > 0.
    """
    p = Path(path)
    rows = _csv_rows(p)
    col, start = _column(rows, ("close", "price", "adj_close", "last"), p)
    cells = [row[col] if col < len(row) else "" for row in rows[start:]]
    out = _floats(cells, lambda i: f"{p}: line {i + start + 1}")
    if not all(0.0 < v < math.inf for v in out):
        for i, value in enumerate(out):
            if not (math.isfinite(value) and value > 0):
                raise InputError(
                    f"{p}: line {i + start + 1}: price must be finite and > 0, got {value}"
                )
    return out, _date_cells(rows, start)


_POSITION_FIELDS = ("world_id", "strategy_id", "symbol", "qty", "mark", "venue")


def read_positions(path: str | Path) -> list[PositionSlice]:
    """Read positions from JSON (a list, or ``{"positions": [...]}``) or CSV with a header
    ``world_id,strategy_id,symbol,qty,mark[,venue]``.

    Raises:
        InputError: unreadable file or a malformed position.
    """
    p = Path(path)
    items: Any
    if p.suffix.lower() == ".json":
        obj = _read_json(p)
        items = obj.get("positions") if isinstance(obj, dict) else obj
        if not isinstance(items, list):
            raise InputError(f'{p}: expected a list of positions or {{"positions": [...]}}')
    else:
        rows = _csv_rows(p)
        if not rows:
            raise InputError(f"{p} has no rows")
        header = [c.strip().lower() for c in rows[0]]
        missing = [f for f in _POSITION_FIELDS[:5] if f not in header]
        if missing:
            raise InputError(f"{p}: missing column(s) {', '.join(missing)}")
        items = [
            {k: (v.strip() or None) if k == "venue" else v.strip()
             for k, v in zip(header, row, strict=False) if k in _POSITION_FIELDS}
            for row in rows[1:]
        ]
    try:
        return msgspec.convert(items, list[PositionSlice], strict=False)
    except msgspec.ValidationError as exc:
        raise InputError(f"{p}: bad position: {exc}") from exc


def parse_allocations(text: str) -> dict[str, float]:
    """Parse ``w1=0.6,w2=0.4`` into ``{"w1": 0.6, "w2": 0.4}``.

    Raises:
        InputError: an item is not ``world=fraction``, a name repeats, or a fraction is not
            a finite number in [0, 1].
    """
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            raise InputError(f"expected world=fraction items like w1=0.6,w2=0.4; got {item!r}")
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{name}: {raw.strip()!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InputError(f"{name}: allocation must be in [0, 1], got {raw.strip()}")
        if name in out:
            raise InputError(f"world {name!r} is given twice")
        out[name] = value
    return out


def read_policy(path_text: str) -> RebalancePolicy:
    """Read a rebalancing policy (schema v3) from a ``.toml`` or ``.json`` file.

    The file holds the policy's fields at its top level (``[band]``, ``max_turnover``,
    ``[cash]``, ``[costs.default]``, ``[costs.by_venue.<venue>]``), or under one ``policy``
    table.

    Raises:
        InputError: the file is unreadable, not TOML/JSON, or not a valid policy.
    """
    path = Path(path_text)
    if path.suffix.lower() == ".toml":
        try:
            raw: Any = tomllib.loads(_read_bytes(path).decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{path} is not valid TOML: {exc}") from exc
    elif path.suffix.lower() == ".json":
        raw = _read_json(path)
    else:
        raise InputError(f"{path}: a policy file must end in .toml or .json")
    if isinstance(raw, dict) and set(raw) == {"policy"}:
        raw = raw["policy"]
    try:
        return msgspec.convert(raw, RebalancePolicy)
    except msgspec.ValidationError as exc:
        raise InputError(f"{path} is not a valid policy: {exc}") from exc
