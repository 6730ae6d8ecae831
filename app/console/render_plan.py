"""Plans and executions as HTML: per-world deltas, skipped deltas, projection, batches, denials.

Answers are read as decoded JSON, tolerantly: fields a newer server adds are shown where the
console knows them and ignored otherwise, so v1, v2 and v3 plans render alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.console.html import badge, e, fmt_num, fmt_time, table

__all__ = ["execution_html", "plan_html", "projection_rows", "weights_from_projection"]


def _deltas(items: Any) -> list[list[str]]:
    rows = []
    for d in items if isinstance(items, list) else []:
        if isinstance(d, Mapping):
            qty = d.get("delta_qty", 0)
            side = "buy" if isinstance(qty, int | float) and qty > 0 else "sell"
            rows.append([e(d.get("symbol", "")), e(d.get("venue") or "—"),
                         f'<span class="{side}">{e(fmt_num(qty))}</span>'])
    return rows


def _world_section(world: str, entry: Mapping[str, Any]) -> str:
    scales = entry.get("scale_by_strategy") or {}
    strategies = ", ".join(f"{e(s)} × {e(fmt_num(v, 4))}" for s, v in sorted(scales.items()))
    rows = _deltas(entry.get("deltas"))
    return (f'<div class="world"><h3>{e(world)} <span class="muted">scale × '
            f'{e(fmt_num(entry.get("scale_world"), 4))}</span></h3>'
            + (f'<p class="muted small">strategies: {strategies}</p>' if strategies else "")
            + table(["symbol", "venue", "delta_qty"], rows, numeric=(2,),
                    empty="No trades in this world.") + "</div>")


def projection_rows(plan: Mapping[str, Any]) -> tuple[dict[str, Mapping[str, Any]], Any]:
    """The v3 ``projection``'s per-world entries and its ``total`` (empty without one)."""
    projection = plan.get("projection")
    if not isinstance(projection, Mapping):
        return {}, None
    per_world = projection.get("per_world")
    if not isinstance(per_world, Mapping):
        per_world = {k: v for k, v in projection.items() if k != "total"}
    worlds = {str(k): v for k, v in per_world.items() if isinstance(v, Mapping)}
    return worlds, projection.get("total")


def weights_from_projection(plan: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """``{world: (weight_before, weight_after, target)}`` from a v3 projection."""
    worlds, _ = projection_rows(plan)
    out = {}
    for world, p in worlds.items():
        values = [p.get(k) for k in ("weight_before", "weight_after", "target")]
        if all(isinstance(v, int | float) for v in values):
            out[world] = (float(values[0]), float(values[1]), float(values[2]))  # type: ignore[arg-type]
    return out


def _projection(plan: Mapping[str, Any]) -> str:
    worlds, total = projection_rows(plan)
    if not worlds:
        return ""
    keys = ("weight_before", "weight_after", "target", "residual", "turnover_notional",
            "est_cost")
    rows = [[e(w), *(e(fmt_num(p.get(k), 5)) for k in keys)] for w, p in sorted(worlds.items())]
    totals = ""
    if isinstance(total, Mapping):
        totals = '<p class="muted small">total: ' + ", ".join(
            f"{e(k)} {e(fmt_num(v, 6))}" for k, v in total.items()) + "</p>"
    return ('<section class="sub"><h3>Projection</h3>'
            + table(["world", *keys], rows, numeric=tuple(range(1, 7))) + totals + "</section>")


def _skipped(plan: Mapping[str, Any]) -> str:
    skipped = plan.get("skipped")
    if not isinstance(skipped, list):
        return ""
    rows = [[e(s.get("world_id", "")), e(s.get("strategy_id") or "—"), e(s.get("symbol", "")),
             e(s.get("venue") or "—"), e(fmt_num(s.get("delta_qty"))), badge(s.get("code", ""),
                                                                               "warn"),
             e(s.get("detail", ""))] for s in skipped if isinstance(s, Mapping)]
    return ('<section class="sub"><h3>Skipped deltas</h3>'
            + table(["world", "strategy", "symbol", "venue", "not traded", "code", "detail"],
                    rows, numeric=(4,), empty="Nothing was skipped.") + "</section>")


def _metrics(plan: Mapping[str, Any]) -> str:
    metrics = plan.get("alpha_metrics")
    per_world = metrics.get("per_world") if isinstance(metrics, Mapping) else None
    if not isinstance(per_world, Mapping) or not per_world:
        return ""
    names = ("sharpe", "max_drawdown", "win_ratio", "profit_factor", "car_mdd", "rar_mdd")
    rows = [[e(w), *(e(fmt_num((m or {}).get(f"alpha_performance.{n}"), 4)) for n in names)]
            for w, m in sorted(per_world.items()) if isinstance(m, Mapping | None)]
    return ('<section class="sub"><h3>alpha_performance per world</h3>'
            + table(["world", *names], rows, numeric=tuple(range(1, 7))) + "</section>")


def plan_html(plan: Mapping[str, Any]) -> str:
    """A plan answer: each world's deltas, the netted global deltas, overlay, v3 sections."""
    raw = plan.get("per_world")
    per_world: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    worlds = "".join(_world_section(w, v) for w, v in sorted(per_world.items())
                     if isinstance(v, Mapping))
    parts = [f'<div class="worlds">{worlds}</div>' if worlds else
             '<p class="empty">The plan has no worlds.</p>',
             '<section class="sub"><h3>Global deltas (netted across worlds)</h3>'
             + table(["symbol", "venue", "delta_qty"], _deltas(plan.get("global_deltas")),
                     numeric=(2,), empty="No global deltas.") + "</section>"]
    if plan.get("overlay_deltas"):
        parts.append('<section class="sub"><h3>Overlay deltas</h3>'
                     + table(["symbol", "venue", "delta_qty"], _deltas(plan["overlay_deltas"]),
                             numeric=(2,)) + "</section>")
    parts += [_skipped(plan), _projection(plan), _metrics(plan)]
    return "".join(parts)


def _orders(orders: Any, world: str) -> list[list[str]]:
    rows = []
    for o in orders if isinstance(orders, list) else []:
        if isinstance(o, Mapping):
            side = str(o.get("side", ""))
            rows.append([e(world), e(o.get("strategy_id") or "—"), e(o.get("symbol", "")),
                         e(o.get("venue") or "—"), f'<span class="{e(side)}">{e(side)}</span>',
                         e(fmt_num(o.get("quantity"))), e(o.get("time_in_force", "")),
                         "reduce-only" if o.get("reduce_only") else ""])
    return rows


def execution_html(answer: Mapping[str, Any]) -> str:
    """An execute answer or a stored execution: its state, batches, orders, denials, drops."""
    facts = [("execution", f"<code>{e(answer.get('execution_id') or '—')}</code>"),
             ("state", badge(answer.get("state") or ("submitted" if answer.get("submitted")
                                                     else "not stored"))),
             ("status", badge(answer.get("status") or "—")),
             ("scope", e(answer.get("scope", ""))),
             ("schema", e(f"v{answer.get('rebalance_schema_version', '?')}"))]
    if answer.get("etag"):
        facts.append(("etag", f"<code>{e(answer['etag'])}</code>"))
    if answer.get("expires_at"):
        facts.append(("expires", e(fmt_time(answer["expires_at"]))))
    head = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    orders: list[list[str]] = []
    per_world = answer.get("orders_per_world")
    if isinstance(per_world, Mapping):
        for world, items in sorted(per_world.items()):
            orders += _orders(items, world)
    orders += _orders(answer.get("orders_global"), "global")
    batches = [[e(b.get("batch_id", "")), e(b.get("world_id", "")), e(b.get("scope", "")),
                e(fmt_num(b.get("total"))), e(fmt_num(b.get("reduce_only"))),
                f"<code>{e(b.get('event_id', ''))}</code>"]
               for b in answer.get("batches") or [] if isinstance(b, Mapping)]
    denied = [[e(d.get("world_id", "")), e(d.get("strategy_id") or "—"), e(d.get("symbol", "")),
               e(fmt_num(d.get("quantity"))), badge(d.get("code", ""), "bad"),
               e(d.get("detail", ""))]
              for d in answer.get("denied") or [] if isinstance(d, Mapping)]
    dropped = [[e(d.get("world_id", "")), e(d.get("symbol", "")), e(fmt_num(d.get("quantity"))),
                e(d.get("reason", "")), e(d.get("detail", ""))]
               for d in answer.get("dropped") or [] if isinstance(d, Mapping)]
    return (f'<dl class="facts">{head}</dl>'
            '<section class="sub"><h3>Orders</h3>'
            + table(["world", "strategy", "symbol", "venue", "side", "quantity", "tif", ""],
                    orders, numeric=(5,), empty="No orders passed.") + "</section>"
            + ('<section class="sub"><h3>Batches</h3>' + table(
                ["batch", "world", "scope", "orders", "reduce-only", "event"], batches,
                numeric=(3, 4)) + "</section>" if batches else "")
            + '<section class="sub"><h3>Denied by the risk checks</h3>'
            + table(["world", "strategy", "symbol", "quantity", "code", "detail"], denied,
                    numeric=(3,), empty="No order was denied.") + "</section>"
            + ('<section class="sub"><h3>Dropped (no order)</h3>' + table(
                ["world", "symbol", "quantity", "reason", "detail"], dropped, numeric=(2,))
               + "</section>" if dropped else ""))
