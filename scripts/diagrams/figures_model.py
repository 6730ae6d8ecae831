"""Diagrams of the planning model: the book, allocations, modes, netting, lots and dust."""

from __future__ import annotations

from scripts.diagrams.svg import INK, LINE, MUTED, TONES, Drawing

W = 720
SELL = "#dc2626"


def book() -> Drawing:
    """Worlds share a book's equity; strategies inside a world hold the positions."""
    d = Drawing(W, 330, "A book of worlds and strategies",
                "The book's total equity is shared by worlds; each world's strategies hold "
                "position slices. The names are those of examples/plan_request.json.")
    top = d.box(230, 20, 260, 50, "Book", ["total_equity = 1,000,000"], tone="dark")
    left = d.panel(24, 104, 440, 176, "World crypto-momo", note="30 % of the equity")
    right = d.panel(484, 104, 212, 176, "World equity-carry", note="20 %")
    d.arrow([top.bottom, (top.cx, 88), (left.cx, 88), left.top])
    d.arrow([top.bottom, (top.cx, 88), (right.cx, 88), right.top])
    d.box(40, 138, 196, 126, "Strategy trend", ["10 % of the equity", "", "1 BTCUSDT @ 60,000"],
          tone="white")
    d.box(252, 138, 196, 126, "Strategy breakout",
          ["20 % of the equity", "", "2 BTCUSDT @ 60,100", "15 ETHUSDT @ 3,000"], tone="white")
    d.box(500, 138, 180, 126, "Strategy carry",
          ["20 % of the equity", "", "200 SPY @ 500", "−100 TLT @ 90"], tone="white")
    d.note(24, 304, "A position slice is (world, strategy, symbol, qty, mark, venue); "
           "the sign of qty says long or short.")
    return d


def allocations() -> Drawing:
    """Allocations before and after, and the scales they give."""
    d = Drawing(W, 330, "Allocations before and after",
                "Each world's and strategy's allocation before and after the change, as a "
                "share of total equity, and the scale after / before that resizes it.")
    x0, per = 190, 11.0  # px per percentage point
    rows = [("crypto-momo", 30, 20, "× 0.667", True), ("equity-carry", 20, 25, "× 1.25", True),
            ("trend", 10, 6.67, "× 0.667", False), ("breakout", 20, 13.33, "× 0.667", False)]
    d.caption(24, 34, "allocation (% of total equity)")
    d.caption(696, 34, "scale = after ÷ before", anchor="end")
    d.rect(330, 24, 12, 12, fill="#cbd5e1", radius=3)
    d.note(348, 34, "before")
    d.rect(400, 24, 12, 12, fill=TONES["blue"].stroke, radius=3)
    d.note(418, 34, "after")
    for tick in (0, 10, 20, 30):
        x = x0 + tick * per
        d.line(x, 48, x, 290, color=LINE)
        d.note(x, 308, f"{tick} %", anchor="middle")
    y = 54
    for name, before, after, scale, world in rows:
        if not world and name == "trend":
            y += 12
            d.line(24, y, 696, y, color=LINE)
            d.note(24, y + 20, "strategies inside crypto-momo", size=11)
            y += 22
        d.text(24 if world else 36, y + 24, name, size=13, bold=world, color=INK)
        d.rect(x0, y + 4, before * per, 14, fill="#cbd5e1", radius=3)
        d.rect(x0, y + 22, after * per, 14, fill=TONES["blue"].stroke, radius=3)
        d.note(x0 + before * per + 6, y + 15, f"{before:g} %", size=11)
        d.note(x0 + after * per + 6, y + 33, f"{after:g} %", size=11, color=INK)
        d.text(690, y + 26, scale, size=13, bold=True, anchor="end",
               color=TONES["blue"].ink)
        y += 46
    return d


def _bars(d: Drawing, x: float, y: float, rows: list[tuple[str, float, float]]) -> None:
    """Rows of (label, held notional, sold part) as a held bar with its sold end in red."""
    for i, (label, held, sold) in enumerate(rows):
        top = y + i * 34
        d.note(x, top + 13, label, size=11, color=INK)
        bx = x + 62
        if held:
            d.rect(bx, top + 2, held, 16, fill="#cbd5e1", radius=3)
        if sold:
            start = bx + held - sold if held else bx
            d.rect(start, top + 2, sold, 16, fill=SELL, radius=3, opacity=0.85)
            d.note(start + sold + 5, top + 14, "sell", size=10.5, color=SELL)
        if not held and not sold:
            d.note(bx, top + 14, "no trade", size=10.5)


def modes() -> Drawing:
    """Scaling, overlay and hybrid trade the same world scale in different places."""
    d = Drawing(W, 290, "Scaling, overlay and hybrid",
                "A world goes from 30 % to 20 % (scale 2/3). Scaling sells a third of every "
                "position; overlay leaves the positions alone and sells an index instead; "
                "hybrid with overlay_fraction 0.5 does half of each.")
    d.note(24, 28, "A world goes from 30 % to 20 %: scale g = 2/3. Red is what is sold.",
           size=12, color=INK)
    panels = [
        ("scaling", "the default", [("BTCUSDT", 108, 36), ("ETHUSDT", 48, 16), ("index", 0, 0)],
         ["every position × g", "per_world and global_deltas"]),
        ("overlay", "", [("BTCUSDT", 108, 0), ("ETHUSDT", 48, 0), ("index", 0, 56)],
         ["positions untouched; one index", "trade (g − 1)·N: overlay_deltas"]),
        ("hybrid", "f = 0.5",
         [("BTCUSDT", 108, 18), ("ETHUSDT", 48, 8), ("index", 0, 28)],
         ["(1 − f) through the positions,", "f through the index"]),
    ]
    for i, (name, note, rows, lines) in enumerate(panels):
        x = 24 + i * 228
        d.panel(x, 44, 216, 226, name, tone="slate", note=note or None)
        _bars(d, x + 12, 76, rows)
        d.line(x + 12, 186, x + 204, 186, color=LINE)
        for j, text in enumerate(lines):
            d.note(x + 12, 208 + j * 17, text, size=11.5, color=INK if j == 0 else MUTED)
    return d


def netting() -> Drawing:
    """Changes are netted per world and (venue, symbol), then across worlds."""
    d = Drawing(W, 330, "Netting",
                "Each position's change is netted per world and (venue, symbol) into "
                "per_world deltas, which are netted across worlds into global_deltas.")
    cols = [(24, "change per position"), (268, "per_world deltas"), (512, "global_deltas")]
    for x, title in cols:
        d.caption(x, 30, title)
    src = [("core · trend", "BTC −0.40"), ("core · carry", "BTC +0.10"),
           ("alpha · meanrev", "BTC +0.20"), ("alpha · meanrev", "ETH −2.00")]
    boxes = [d.box(24, 44 + i * 58, 184, 46, who, [what], tone="white", mono=True)
             for i, (who, what) in enumerate(src)]
    mid = [d.box(268, 60, 184, 46, "core", ["BTC −0.30"], tone="blue", mono=True),
           d.box(268, 142, 184, 46, "alpha", ["BTC +0.20"], tone="blue", mono=True),
           d.box(268, 216, 184, 46, "alpha", ["ETH −2.00"], tone="blue", mono=True)]
    glob = [d.box(512, 90, 184, 46, "all worlds", ["BTC −0.10"], tone="green", mono=True),
            d.box(512, 216, 184, 46, "all worlds", ["ETH −2.00"], tone="green", mono=True)]
    links = [(0, 0), (1, 0), (2, 1), (3, 2)]
    for a, b in links:
        d.arrow([boxes[a].right, (238, boxes[a].cy), (238, mid[b].cy), mid[b].left])
    for a, b in [(0, 0), (1, 0), (2, 1)]:
        d.arrow([mid[a].right, (482, mid[a].cy), (482, glob[b].cy), glob[b].left])
    d.note(24, 296, "per_world: what each world trades on its own.  global_deltas: one trade "
           "per market when the", size=11.5)
    d.note(24, 314, "worlds share an account. Quantities use the quantity-weighted mark of "
           "the (venue, symbol).", size=11.5)
    return d


def lots() -> Drawing:
    """Lot rounding toward zero and the dust rule, in the order the planner applies them."""
    d = Drawing(W, 300, "Lots and dust",
                "With lot_size 0.1, −0.37 becomes −0.3 and +0.26 becomes +0.2: quantities are "
                "cut toward zero. Below, the order of the steps that turn a netted change "
                "into a delta.")
    d.caption(24, 30, "lots: cut toward zero")
    d.text(180, 30, "lot_size_by_symbol {\"BTC\": 0.1}", size=11.5, mono=True, color=INK)
    x0, per = 80, 56  # the axis from −0.5 to +0.5
    y = 86
    d.line(x0, y, x0 + 10 * per, y, color="#9ca3af", width=1.2)
    for i in range(11):
        value = -0.5 + i * 0.1
        x = x0 + i * per
        d.line(x, y - 6, x, y + 6, color="#9ca3af", width=1.2)
        label = "0" if i == 5 else f"{value:+.1f}".replace("-", "−")
        d.note(x, y + 22, label, anchor="middle", size=11)

    def at(v: float) -> float:
        return x0 + (v + 0.5) * 10 * per

    for raw, cut in ((-0.37, -0.3), (0.26, 0.2)):
        d.circle(at(raw), y, 5, fill="#ffffff", stroke=SELL)
        d.circle(at(cut), y, 5.5, fill=TONES["blue"].stroke)
        d.arrow([(at(raw), y - 14), (at(raw), y - 26), (at(cut), y - 26), (at(cut), y - 12)])
        d.note(at(raw), y + 40, f"{raw:+.2f}".replace("-", "−") + " computed", anchor="middle",
               size=11, color=SELL)
        d.note(at(cut), y - 34, f"{cut:+.1f}".replace("-", "−") + " traded",
               anchor="middle", size=11, color=TONES["blue"].ink)
    d.caption(24, 170, "from a netted change to a delta")
    d.flow(24, 184, 672, 64, [
        ("netted change", ["per world,", "venue, symbol"], "slate"),
        ("noise", ["< 1e-12 of gross:", "dropped"], "white"),
        ("dust", ["|notional| below", "min_trade_notional"], "amber"),
        ("lots", ["cut toward zero;", "zeros dropped"], "blue"),
        ("delta", ["in the answer"], "green"),
    ], gap=14, line_size=11)
    d.note(24, 276, "Dust: 0.001 BTC at 60,000 is 60 of notional; with min_trade_notional "
           "100 it is dropped.", size=11.5)
    return d


def lifecycle() -> Drawing:
    """The life of a rebalance: plan, apply, preview, submit, and who does each step."""
    d = Drawing(W, 250, "The life of a rebalance",
                "Plan computes and stores nothing; apply stores the plan and announces it; "
                "execute turns it into risk-checked orders kept as a preview; submit sends "
                "exactly the previewed orders.")
    boxes = d.flow(24, 64, 672, 70, [
        ("plan", ["computes the trades;", "stores nothing"], "white"),
        ("apply", ["stores the plan;", "one event per world"], "blue"),
        ("execute", ["orders, risk-checked;", "a stored preview"], "slate"),
        ("submit", ["exactly the preview;", "one event per batch"], "green"),
    ], gap=28)
    for label, first, last, tone in (("WorldService", 0, 1, "blue"),
                                     ("Gateway", 2, 3, "dark")):
        left, right = boxes[first].x, boxes[last].x + boxes[last].w
        colors = TONES[tone]
        d.rect(left, 24, right - left, 24, fill=colors.fill, stroke=colors.stroke, radius=6,
               width=1)
        d.text((left + right) / 2, 40.5, label, size=12, bold=True, color=colors.ink,
               anchor="middle")
    commands = ["worldgate plan", "worldgate apply", "worldgate execute", "worldgate submit ID"]
    events = ["—", "rebalancing_planned", "—", "rebalancing_orders"]
    d.caption(24, 160, "command")
    d.caption(24, 206, "event")
    for box, command, event in zip(boxes, commands, events, strict=True):
        d.text(box.cx, 180, command, size=11, mono=True, color=INK, anchor="middle")
        d.text(box.cx, 226, event, size=11, mono=True, color=MUTED, anchor="middle")
    return d
