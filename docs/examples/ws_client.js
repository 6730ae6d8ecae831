// Follow Worldgate's `WS /events` stream from a browser or Node.js >= 22 (global WebSocket;
// Node 20: `node --experimental-websocket`), resuming after disconnects from the last
// sequence number seen.
//
//   node docs/examples/ws_client.js ws://127.0.0.1:8000/events world-a 2 [since] [maxEvents]
//
// Browsers cannot set an Authorization header on a WebSocket: when the deployment has
// API keys, connect through a proxy that adds one with the scope `read` (see the page).

const base = (globalThis.process?.argv[2]) ?? "ws://127.0.0.1:8000/events";
const worldId = globalThis.process?.argv[3];
const schemaVersion = globalThis.process?.argv[4] ?? "1";
const since = globalThis.process?.argv[5];
const maxEvents = Number(globalThis.process?.argv[6] ?? 0); // 0 = follow forever

let lastSeq = since ? Number(since) : null; // the resume point: the last event seq handled
let handled = 0;

function subscriptionUrl() {
  const query = new URLSearchParams({ schema_version: schemaVersion });
  if (worldId) query.append("world_id", worldId);
  if (lastSeq !== null) query.append("since", String(lastSeq));
  return `${base}?${query}`;
}

function handleEvent(event) {
  // `event.type` is the topic; `event.data.world_id` the world; `event.seq` the log position.
  console.log(JSON.stringify(event));
}

function connect() {
  const ws = new WebSocket(subscriptionUrl());
  ws.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if ("id" in frame) {
      handleEvent(frame);
      if (frame.seq != null) lastSeq = frame.seq;
      handled += 1;
      if (maxEvents && handled >= maxEvents) {
        ws.onclose = null;
        ws.close(1000);
        return;
      }
    } else if (frame.type === "lagged") {
      // Too slow: reconnect from the last handled event; the server replays the rest.
      console.warn("lagged", JSON.stringify(frame));
      ws.close(1000);
    } else if (frame.type === "error") {
      console.error("error", JSON.stringify(frame));
    } else {
      console.warn(frame.type, JSON.stringify(frame)); // subscribed, gap (to stderr)
    }
  };
  ws.onclose = (close) => {
    if (close.code === 1008 || close.code === 1009 || close.code === 4401) {
      console.error(`closed for good (${close.code}) ${close.reason}`);
      return;
    }
    // 1001 = the server is shutting down; 1006 = the connection dropped: try again.
    setTimeout(connect, 1000);
  };
}

connect();
