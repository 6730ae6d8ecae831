"""A lean HTTP client process for ``bench_apply``'s group-commit comparison.

It imports only the standard library (16 of them start at once on 2 shared cores), reads
the apply body from a file, and applies fresh runs back to back from ``start_at`` until
``until`` (CLOCK_MONOTONIC, shared by every process of a Linux machine) on one keep-alive
connection. Prints one JSON line: how many applies were answered, when the last one was,
and how late the process was ready.

Usage: ``python -m benchmarks.apply_client PORT PREFIX BODY_FILE START_AT UNTIL``.
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def run(port: int, prefix: str, body_file: str, start_at: float, until: float) -> None:
    """Apply runs ``PREFIX-0``, ``PREFIX-1``, ... while the window is open."""
    with open(body_file, "rb") as f:
        body = f.read().strip()  # a JSON object without run_id; each request splices one in
    assert body.startswith(b"{")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    late = time.monotonic() - start_at
    while time.monotonic() < start_at:
        time.sleep(0.001)
    done = 0
    while time.monotonic() < until:
        encoded = b'{"run_id":"' + f"{prefix}-{done}".encode() + b'",' + body[1:]
        conn.request("POST", "/worldservice/rebalancing/apply", body=encoded,
                     headers={"content-type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise SystemExit(f"apply failed: {answer.status} {data[:200]!r}")
        done += 1
    print(json.dumps({"done": done, "end": time.monotonic(), "late": late}))


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
