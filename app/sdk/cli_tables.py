"""Table output of a schema v3 plan: what was skipped and why, the projection, the funding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from app.sdk.cli_common import console

__all__ = ["policy_tables"]


def _num(value: Any, spec: str = ".6g") -> str:
    return format(float(value), spec) if isinstance(value, int | float) else ""


def policy_tables(answer: Mapping[str, Any]) -> None:
    """Print the v3 sections of a plan answer (nothing for v1/v2 answers)."""
    out = console()
    skipped = answer.get("skipped")
    if isinstance(skipped, list) and skipped:
        # Many entries share a reason (one turnover cap, one cash limit): each distinct
        # detail is printed once under the table and the rows point at it.
        notes: dict[str, int] = {}
        table = Table(title="skipped (not traded)")
        for col in ("world", "strategy", "venue", "symbol", "delta_qty", "code", "why"):
            table.add_column(col, no_wrap=True)
        for item in skipped:
            note = notes.setdefault(str(item.get("detail")), len(notes) + 1)
            table.add_row(str(item.get("world_id")), str(item.get("strategy_id") or ""),
                          str(item.get("venue") or ""), str(item.get("symbol")),
                          _num(item.get("delta_qty"), ".10g"), str(item.get("code")),
                          f"[{note}]")
        out.print(table)
        for detail, note in notes.items():
            out.print(f"[{note}] {detail}", markup=False)
    projection = answer.get("projection")
    if isinstance(projection, Mapping):
        table = Table(title="projection (weights as fractions of total equity)")
        for col in ("world", "before", "after", "target", "residual", "turnover", "est. cost"):
            table.add_column(col, justify="left" if col == "world" else "right", no_wrap=True)
        for world, p in sorted((projection.get("per_world") or {}).items()):
            table.add_row(world, _num(p.get("weight_before"), ".4f"),
                          _num(p.get("weight_after"), ".4f"), _num(p.get("target"), ".4f"),
                          _num(p.get("residual"), "+.4f"),
                          _num(p.get("turnover_notional"), ",.2f"),
                          _num(p.get("est_cost"), ",.2f"))
        total = projection.get("total") or {}
        table.add_row("(total)", "", "", "", "", _num(total.get("turnover_notional"), ",.2f"),
                      _num(total.get("est_cost"), ",.2f"))
        out.print(table)
        out.print(f"turnover {_num(total.get('turnover_weight'))} of equity, estimated cost "
                  f"{_num(total.get('est_cost_bps'), '.2f')} bps")
    funding = answer.get("funding")
    if isinstance(funding, Mapping):
        out.print(
            f"funding: available {_num(funding.get('available'), ',.2f')}, buffer "
            f"{_num(funding.get('buffer'))}, sells {_num(funding.get('sells'), ',.2f')}, "
            f"budget {_num(funding.get('budget'), ',.2f')}, buys "
            f"{_num(funding.get('buys'), ',.2f')} → buy scale {_num(funding.get('buy_scale'))}"
        )
