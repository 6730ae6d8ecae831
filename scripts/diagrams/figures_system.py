"""Diagrams of the running system: versions, negotiation, events, risk, execution, keys."""

from __future__ import annotations

from scripts.diagrams.svg import INK, LINE, MUTED, TONES, Drawing

W = 720


def versions() -> Drawing:
    """Each schema version carries the fields of the versions below it, never of a later one."""
    d = Drawing(W, 250, "Schema versions v1, v2 and v3",
                "v2 is v1 plus alpha_metrics and rebalance_intent; v3 is v2 plus skipped, "
                "projection and funding, and lets a request carry a policy.")
    d.panel(24, 20, 672, 190, "v3", tone="violet", note="rebalancing policy")
    d.panel(40, 50, 440, 148, "v2", tone="green", note="alpha metrics")
    d.panel(56, 80, 220, 106, "v1", tone="blue", note="the default")
    for i, field in enumerate(["per_world", "global_deltas", "overlay_deltas"]):
        d.text(72, 126 + i * 20, field, size=12, mono=True, color=INK)
    for i, field in enumerate(["+ alpha_metrics", "+ rebalance_intent"]):
        d.text(296, 126 + i * 20, field, size=12, mono=True, color=TONES["green"].ink)
    for i, field in enumerate(["+ skipped", "+ projection", "+ funding", "request: + policy"]):
        d.text(500, 106 + i * 20, field, size=12, mono=True, color=TONES["violet"].ink)
    d.text(296, 180, "switch: compat_rebalance_v2", size=10.5, mono=True, color=MUTED)
    d.text(500, 196, "switch: compat_rebalance_v3", size=10.5, mono=True, color=MUTED)
    d.note(24, 234, "An answer is tagged by schema_version: a v1 client never sees a v2 "
           "field, a v2 client never a v3 one.", size=11.5)
    return d


def negotiation() -> Drawing:
    """The client reads the capability bits; the answer's version is the lowest both serve."""
    d = Drawing(W, 400, "Schema negotiation",
                "The Runner reads the Gateway's capability bits on /health and asks for the "
                "version it advertises; WorldService answers min(requested, what it serves).")
    lanes = [(120, "SDK Runner", "or any client"), (360, "Gateway", "advertises bits"),
             (600, "WorldService", "serves up to v2")]
    for x, title, sub in lanes:
        d.box(x - 95, 16, 190, 48, title, [sub], tone="dark" if title == "Gateway" else "slate")
        d.line(x, 64, x, 356, color="#cbd5e1", dashed=True)
    steps = [
        (120, 360, 96, "GET /health", False),
        (360, 120, 136, "rebalance_schema_version 3, alpha_metrics_capable true", True),
        (120, 360, 186, "POST /rebalancing/plan, schema_version 3", False),
        (360, 600, 226, "plan, schema_version 3", False),
        (600, 360, 310, "a v2 plan", True),
        (360, 120, 344, "a v2 plan (rebalance_schema_version 2)", True),
    ]
    for x1, x2, y, label, back in steps:
        d.arrow([(x1, y), (x2 + (6 if x2 < x1 else -6), y)], label=label,
                label_at=((x1 + x2) / 2, y - 8), dashed=back)
    d.box(505, 246, 190, 36, "answer: min(3, 2) = 2", tone="amber", size=12)
    d.note(24, 384, "A WorldService that refuses a version (400, 404, 415, 422, 501) is asked "
           "again one lower: 3 → 2 → 1.", size=11.5)
    return d


def event_flow() -> Drawing:
    """From an apply to WebSocket clients: one transaction, the outbox, the bus, the relay."""
    d = Drawing(W, 380, "The event flow",
                "An apply writes the plan and its events in one transaction; the outbox "
                "publishes them on the ControlBus, which wakes the relay; the relay reads the "
                "event log in seq order and sends each client the version it reads.")
    apply = d.box(24, 30, 150, 60, "apply", ["POST /rebalancing/apply"], tone="white",
                  line_size=10.5)
    ws = d.box(212, 30, 188, 60, "WorldService", ["plans; one event per world"], tone="blue")
    store = d.box(448, 24, 248, 72, "Store",
                  ["plan + events in one transaction", "event log: seq 41, 42, 43 …"],
                  tone="amber")
    outbox = d.box(526, 170, 170, 60, "Outbox publisher",
                   ["publishes new events,", "retries until sent"], tone="slate")
    bus = d.box(292, 170, 176, 60, "ControlBus", ["memory or Redis Streams"], tone="slate")
    relay = d.box(24, 170, 212, 60, "Relay (Gateway)",
                  ["reads the log after each", "client's last seq"], tone="dark")
    d.arrow([apply.right, ws.left])
    d.arrow([ws.right, store.left], label="write", label_at=(424, 52))
    d.arrow([(611, 96), outbox.top], label="not yet published", label_at=(618, 138),
            label_anchor="start")
    d.arrow([outbox.left, bus.right], label="publish", label_at=(497, 192))
    d.arrow([bus.left, relay.right], label="wake-up", label_at=(264, 192), dashed=True)
    d.arrow([(480, 96), (480, 130), (relay.cx, 130), relay.top], label="read by seq",
            label_at=(300, 124))
    clients = [("v1 client", "no v2 or v3 fields"), ("v3 client", "skipped, projection"),
               ("console", "Live events page")]
    for i, (title, sub) in enumerate(clients):
        b = d.box(24 + i * 152, 290, 140, 52, title, [sub], tone="white", line_size=10.5)
        d.arrow([(relay.cx, relay.y + relay.h), (relay.cx, 262), (b.cx, 262), b.top])
    d.note(500, 290, "Exactly once, in seq order,", size=11.5, color=INK)
    d.note(500, 307, "for a client that resumes", size=11.5)
    d.note(500, 324, "with since=<last seq>.", size=11.5)
    d.note(24, 366, "The bus only wakes the relay: what a client receives comes from the log.",
           size=11.5)
    return d


_STATE_TONE = {"ACTIVE": "green", "REDUCING": "amber", "HALTED": "red"}


def risk_states() -> Drawing:
    """Three trading states, set globally and per world; the stricter one applies."""
    d = Drawing(W, 410, "Trading states",
                "ACTIVE lets every order the limits allow pass, REDUCING only orders that "
                "shrink a position, HALTED nothing. The global state and a world's state "
                "combine: the stricter applies.")
    states = [("ACTIVE", "all orders within limits"),
              ("REDUCING", "only orders that reduce"),
              ("HALTED", "nothing passes")]
    boxes = [d.box(24 + i * 246, 70, 180, 56, name, [sub], tone=_STATE_TONE[name])
             for i, (name, sub) in enumerate(states)]
    a, r, h = boxes
    for left, right, forward, back in ((a, r, "reduce", "resume"), (r, h, "halt", "reduce")):
        mid = (left.x + left.w + right.x) / 2
        d.arrow([(left.x + left.w, left.cy - 10), (right.x, right.cy - 10)], label=forward,
                label_at=(mid, left.cy - 16))
        d.arrow([(right.x, right.cy + 10), (left.x + left.w, left.cy + 10)], label=back,
                label_at=(mid, left.cy + 28))
    d.arrow([a.top, (a.cx, 40), (h.cx, 40), h.top], label="halt", label_at=(360, 35))
    d.arrow([h.bottom, (h.cx, 150), (a.cx, 150), a.bottom], label="resume",
            label_at=(360, 164))
    d.caption(24, 206, "the state that applies to an order")
    gx, gy, cw, ch = 130, 250, 110, 30
    d.note(gx + 1.5 * cw, 226, "world state →", anchor="middle", size=11.5, color=INK)
    d.note(gx - 12, 244, "global state ↓", anchor="end", size=11.5, color=INK)
    names = list(_STATE_TONE)
    for j, name in enumerate(names):
        d.text(gx + j * cw + cw / 2, gy - 6, name, size=11, bold=True, anchor="middle",
               color=MUTED)
        d.text(gx - 12, gy + j * ch + ch / 2 + 8, name, size=11, bold=True, anchor="end",
               color=MUTED)
    for i in range(3):
        for j in range(3):
            result = names[max(i, j)]
            tone = TONES[_STATE_TONE[result]]
            d.rect(gx + j * cw + 2, gy + i * ch + 2, cw - 4, ch - 4, fill=tone.fill,
                   stroke=tone.stroke, radius=5, width=1)
            d.text(gx + j * cw + cw / 2, gy + i * ch + 20, result, size=11.5, bold=True,
                   anchor="middle", color=tone.ink)
    x = 490
    d.note(x, 262, "Set with PUT /risk/state (global)", size=11.5, color=INK)
    d.note(x, 280, "or PUT /risk/worlds/{id},", size=11.5, color=INK)
    d.note(x, 298, "always with a reason.", size=11.5)
    d.note(x, 316, "Each change is recorded and", size=11.5)
    d.note(x, 334, "sent as a risk_state_changed", size=11.5)
    d.note(x, 352, "event.", size=11.5)
    d.note(24, 390, "A world never set is ACTIVE. States live in the store: every Gateway "
           "applies a change from its next request.", size=11.5)
    return d


def two_phase() -> Drawing:
    """A preview is stored; its submit re-checks it and sends exactly what was previewed."""
    d = Drawing(W, 350, "Two-phase execution",
                "An execute without submit stores a preview. Submitting it judges the same "
                "orders again under the current states: the same orders are submitted, other "
                "orders give 412 with a fresh preview, an expired preview gives 410.")
    ex = d.box(24, 30, 190, 64, "execute", ["worldgate execute --preview", "(no submit)"],
               tone="white", line_size=10.5)
    check = d.box(246, 30, 190, 64, "risk checks",
                  ["trading states, limits,", "restricted symbols"], tone="slate")
    prev = d.box(468, 24, 228, 76, "preview stored", ["state previewed, execution_id,",
                                                      "etag, expires_at (300 s)"], tone="blue")
    d.arrow([ex.right, check.left])
    d.arrow([check.right, prev.left])
    sub = d.box(468, 140, 228, 60, "submit", ["worldgate submit ID", "If-Match: etag"],
                tone="white", line_size=10.5)
    again = d.box(190, 140, 246, 60, "judged again", ["the same orders, under the current",
                                                    "states and limits"], tone="slate")
    d.arrow([prev.bottom, sub.top])
    d.arrow([sub.left, again.right])
    outcomes = [("submitted", ["exactly the previewed orders;", "rebalancing_orders events"],
                 "green"),
                ("412 Precondition Failed",
                 ["the orders would differ now:", "a fresh preview to review"], "amber"),
                ("410 Gone", ["past expires_at:", "execute again"], "red")]
    for i, (title, lines, tone) in enumerate(outcomes):
        b = d.box(24 + i * 228, 254, 216, 64, title, lines, tone=tone)
        d.arrow([again.bottom, (again.cx, 230), (b.cx, 230), b.top])
    d.note(24, 340, "Submitting the same id again answers the stored execution: nothing is "
           "sent twice.", size=11.5)
    return d


def keys() -> Drawing:
    """Keys hold scopes; each call is checked for a known key, its scope and its budget."""
    d = Drawing(W, 380, "Scoped API keys",
                "Typical keys and the scopes they hold, and how a call is checked: a public "
                "route needs no key; otherwise an unknown key is 401, a missing scope 403, an "
                "exhausted budget 429; changes and refusals are audited.")
    scopes = ["read", "plan", "apply", "execute", "submit", "risk", "admin"]
    holders = [("research notebook", {"read", "plan", "execute"}),
               ("trading bot", {"read", "plan", "execute", "submit"}),
               ("reviewer of previews", {"read", "submit"}),
               ("risk desk", {"read", "risk"}),
               ("dashboard", {"read"}),
               ("key administrator", {"read", "admin"})]
    x0, cw, y0, rh = 200, 70, 44, 26
    d.caption(24, 30, "key")
    for j, scope in enumerate(scopes):
        d.text(x0 + j * cw + cw / 2, 30, scope, size=11.5, bold=True, anchor="middle",
               color=TONES["blue"].ink, mono=True)
    for i, (name, held) in enumerate(holders):
        y = y0 + i * rh
        if i % 2 == 0:
            d.rect(20, y, x0 + len(scopes) * cw - 16, rh, fill="#f9fafb", radius=4)
        d.text(24, y + 17, name, size=12.5, color=INK)
        for j, scope in enumerate(scopes):
            cx, cy = x0 + j * cw + cw / 2, y + rh / 2
            if scope in held:
                d.circle(cx, cy, 6, fill=TONES["blue"].stroke)
            else:
                d.circle(cx, cy, 2, fill="#d1d5db")
    d.line(24, 214, 696, 214, color=LINE)
    d.caption(24, 238, "how a call is checked")
    boxes = d.flow(24, 252, 672, 58, [
        ("a call", ["with a key"], "white"),
        ("public route?", ["no key needed"], "slate"),
        ("known key?", ["not revoked", "or expired"], "slate"),
        ("scope held?", ["for the route"], "slate"),
        ("within budget?", ["per minute"], "slate"),
        ("handled", ["and audited"], "green"),
    ], gap=10, size=12, line_size=10.5)
    for box, refusal in zip(boxes[2:5], ("401", "403", "429"), strict=True):
        d.arrow([box.bottom, (box.cx, 334)], color="#94a3b8")
        d.text(box.cx, 350, f"{refusal}, audited", size=11, color=TONES["red"].ink,
               anchor="middle")
    d.note(24, 370, "submit does not lift the live-order guard: a live submit still needs "
           "X-Allow-Live: true.", size=11.5)
    return d
