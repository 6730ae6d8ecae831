"""Rich tables of the CLI's ``--output table``: plans (v3 sections too), executions, ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from app.metrics.alpha import METRIC_KEYS
from app.sdk.cli_common import console

__all__ = ["execute_table", "ids_line", "plan_tables", "policy_tables"]


def ids_line(answer: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """``run_id=… etag=…``: the ids of an answer that a table would otherwise hide."""
    parts = [f"{key}={answer[key]}" for key in keys if answer.get(key) not in (None, "")]
    return "  ".join(parts) or None


def plan_tables(answer: dict[str, Any]) -> None:
    """Deltas per world and the global deltas, then per-world metrics (v2), then the ids."""
    out = console()
    table = Table(title=f"plan (schema_version={answer.get('schema_version', 1)})")
    for col in ("world", "scale", "venue", "symbol", "delta_qty"):
        table.add_column(col)
    for world, plan in sorted((answer.get("per_world") or {}).items()):
        deltas = plan.get("deltas") or [{}]
        for d in deltas:
            table.add_row(world, f"{plan.get('scale_world', 0):.6g}", d.get("venue") or "",
                          d.get("symbol", "—"), f"{d['delta_qty']:.10g}" if d else "")
    for d in answer.get("global_deltas") or []:
        table.add_row("(global)", "", d.get("venue") or "", d["symbol"], f"{d['delta_qty']:.10g}")
    out.print(table)
    metrics = (answer.get("alpha_metrics") or {}).get("per_world") or {}
    if metrics:
        mt = Table(title="alpha_performance per world")
        mt.add_column("world")
        for key in METRIC_KEYS:
            mt.add_column(key.split(".", 1)[1], justify="right")
        for world, m in sorted(metrics.items()):
            mt.add_row(world, *(f"{float(m.get(k, 0.0)):.4f}" for k in METRIC_KEYS))
        out.print(mt)
    policy_tables(answer)
    ids = ids_line(answer, ("run_id", "etag"))
    if ids:
        out.print(ids)


def execute_table(answer: dict[str, Any]) -> None:
    """Orders per world (or the shared-account batch), dropped orders, batches and ids."""
    out = console()
    table = Table(title=f"orders ({answer.get('scope', 'per_world')}, "
                        f"submitted={answer.get('submitted', False)})")
    for col in ("world", "strategy", "venue", "symbol", "side", "quantity", "reduce_only"):
        table.add_column(col)
    groups = list((answer.get("orders_per_world") or {}).items())
    if answer.get("orders_global"):
        groups.append(("(shared account)", answer["orders_global"]))
    for world, items in groups:
        for o in items:
            table.add_row(world, str(o.get("strategy_id") or ""), str(o.get("venue") or ""),
                          str(o.get("symbol")), str(o.get("side")),
                          f"{o.get('quantity', 0):.10g}", str(o.get("reduce_only", False)))
    out.print(table)
    denied = answer.get("denied") or []
    if denied:
        nt = Table(title=f"denied by the risk checks (status {answer.get('status')})")
        for col in ("world", "strategy", "symbol", "quantity", "code", "detail"):
            nt.add_column(col)
        for d in denied:
            nt.add_row(str(d.get("world_id")), str(d.get("strategy_id") or ""),
                       str(d.get("symbol")), f"{d.get('quantity', 0):.10g}", str(d.get("code")),
                       str(d.get("detail")))
        out.print(nt)
    dropped = answer.get("dropped") or []
    if dropped:
        dt = Table(title="dropped")
        for col in ("world", "symbol", "quantity", "reason", "detail"):
            dt.add_column(col)
        for d in dropped:
            dt.add_row(str(d.get("world_id")), str(d.get("symbol")),
                       f"{d.get('quantity', 0):.10g}", str(d.get("reason")),
                       str(d.get("detail")))
        out.print(dt)
    batches = answer.get("batches") or []
    if batches:
        bt = Table(title="batches")
        for col in ("batch_id", "world", "scope", "orders", "event_id"):
            bt.add_column(col, overflow="fold")
        for b in batches:
            bt.add_row(str(b.get("batch_id")), str(b.get("world_id")), str(b.get("scope")),
                       str(b.get("total")), str(b.get("event_id")))
        out.print(bt)
    ids = ids_line(answer, ("execution_id", "etag"))
    if ids:
        out.print(ids)


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
