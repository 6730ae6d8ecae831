// Live events: WS /events with filters; resumes from the last seq after a dropped connection.
import { socketProtocols } from "./console.js";

const MAX_ROWS = 500;
const list = document.getElementById("events");
const empty = document.getElementById("events-empty");
const stateBadge = document.getElementById("stream-state");
const lastSeqText = document.getElementById("last-seq");
const countText = document.getElementById("event-count");
const pauseButton = document.getElementById("pause");
const filters = document.getElementById("event-filters");

let socket = null;
let lastSeq = null;
let count = 0;
let paused = false;
let held = [];
let retry = 0;
let retryTimer = null;
let wanted = true;

function setState(state, tone) {
  stateBadge.textContent = state;
  stateBadge.dataset.state = state;
  stateBadge.className = `badge ${tone}`;
}

function subscription() {
  const form = new FormData(filters);
  const params = new URLSearchParams();
  const topics = form.getAll("topic");
  if (topics.length) params.set("topics", topics.join(","));
  const worlds = String(form.get("world_id") || "").split(",").map((w) => w.trim()).filter(Boolean);
  if (worlds.length) params.set("world_id", worlds.join(","));
  params.set("schema_version", String(form.get("schema_version") || "1"));
  return params;
}

function cell(text, className) {
  const span = document.createElement("span");
  if (className) span.className = className;
  span.textContent = text;
  return span;
}

function summary(event) {
  const data = event.data || {};
  if (event.type === "rebalancing_planned") {
    const plan = data.plan || {};
    const deltas = plan.deltas || ((plan.per_world || {})[data.world_id] || {}).deltas || [];
    return `${data.world_id} · run ${data.run_id || "—"} · schema v${data.schema_version} · ` +
      `${deltas.length} deltas`;
  }
  if (event.type === "rebalancing_orders") {
    const counts = data.counts || {};
    return `${data.world_id} · execution ${data.execution_id} · ${data.scope} · ` +
      `${counts.total || 0} orders`;
  }
  if (event.type === "risk_state_changed") {
    return `${data.scope === "global" ? "global" : `world ${data.world_id}`}: ` +
      `${data.previous_state} → ${data.state} (${data.reason || ""})`;
  }
  return event.subject || "";
}

function render(row) {
  const item = document.createElement("li");
  if (row.control) {
    item.className = "control fresh";
    item.append(cell("", "seq"), cell(row.text));
  } else {
    const event = row.event;
    item.className = "fresh";
    item.dataset.type = event.type;
    item.dataset.world = (event.data || {}).world_id || event.subject || "";
    const details = document.createElement("details");
    const head = document.createElement("summary");
    head.textContent = summary(event);
    const body = document.createElement("pre");
    body.textContent = JSON.stringify(event, null, 2);
    details.append(head, body);
    const when = event.time ? new Date(event.time).toISOString().replace("T", " ").slice(0, 19) : "";
    item.append(cell(event.seq == null ? "—" : String(event.seq), "seq"), cell(when, "muted"),
      cell(event.type), details);
  }
  list.prepend(item);
  while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  empty.hidden = list.children.length > 0;
}

function add(row) {
  if (paused) {
    held.push(row);
    pauseButton.textContent = `Resume (${held.length} new)`;
  } else {
    render(row);
  }
}

function onMessage(message) {
  let frame;
  try { frame = JSON.parse(message.data); } catch (_) { return; }
  if (!frame.id) {
    if (frame.type === "subscribed") {
      retry = 0;
      setState("live", "ok");
    } else if (frame.type === "gap" || frame.type === "lagged") {
      add({ control: true, text: `${frame.type}: events ${frame.missed_from}–${frame.missed_to} ` +
        `were not delivered (${frame.reason || `${frame.count} events`})` });
      if (frame.type === "lagged") reconnect(true);
    } else if (frame.type === "error") {
      add({ control: true, text: `error ${frame.code}: ${frame.detail}` });
    }
    return;
  }
  if (typeof frame.seq === "number") {
    lastSeq = frame.seq;
    lastSeqText.textContent = String(lastSeq);
  }
  count += 1;
  countText.textContent = String(count);
  add({ event: frame });
}

function connect(resume) {
  clearTimeout(retryTimer);
  const params = subscription();
  if (resume && lastSeq !== null) params.set("since", String(lastSeq));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/events?${params}`;
  setState(resume && lastSeq !== null ? "resuming" : "connecting", "info");
  const current = new WebSocket(url, socketProtocols());
  socket = current;
  current.addEventListener("message", onMessage);
  current.addEventListener("close", (event) => {
    if (socket !== current || !wanted) return;
    socket = null;
    const delay = Math.min(10000, 500 * 2 ** retry);
    retry += 1;
    const why = event.code === 1006 && retry > 2 ? " (a token may be needed)" : "";
    setState(`reconnecting in ${Math.round(delay / 1000)} s${why}`, "warn");
    retryTimer = setTimeout(() => connect(true), delay);
  });
}

function reconnect(resume) {
  const old = socket;
  socket = null;
  if (old) old.close(1000);
  connect(resume);
}

filters.addEventListener("submit", (event) => {
  event.preventDefault();
  reconnect(false);
});
pauseButton.addEventListener("click", () => {
  paused = !paused;
  if (!paused) {
    held.forEach(render);
    held = [];
  }
  pauseButton.textContent = paused ? "Resume" : "Pause";
});
document.getElementById("clear").addEventListener("click", () => {
  list.replaceChildren();
  held = [];
  count = 0;
  countText.textContent = "0";
  empty.hidden = false;
});
document.body.addEventListener("wg:token", () => reconnect(true));
window.addEventListener("beforeunload", () => { wanted = false; });
connect(false);
