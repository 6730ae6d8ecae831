"""Hardening benchmark (issue 15): what hostile traffic costs the server now.

1. Logging one unexpected error (a 500 with its traceback), console and JSON formats, with
   the plain traceback Worldgate writes, against the rich traceback with local variables
   structlog's console renderer writes by default (what ``worldgate serve`` wrote before).
2. ``/metrics`` size after 20,000 requests with invented HTTP methods.
3. 1,100 half-sent requests held against a real ``worldgate serve`` (header timeout 2 s):
   ``/health`` latency while they are held, and how long until the server has cut them all.
"""

from __future__ import annotations

import io
import logging
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import structlog
from litestar.testing import TestClient

from app.main import create_app
from app.runtime.logging import configure_logging
from app.settings import load_settings
from app.testing import serve_process, settings_env

ERRORS = 200
METHODS = 20_000
HALF_SENT = 1_100


def _failing(request: dict[str, Any]) -> None:
    headers = request["headers"]  # locals a rich traceback renders: token, body
    body = request["body"]
    raise RuntimeError(f"boom after {len(headers)} headers and {len(body)} body bytes")


def _log_cost(renderer: str) -> float:
    """Milliseconds to log one error with its traceback (median of ``ERRORS``)."""
    stream = io.StringIO()
    if renderer == "rich-before":
        structlog.configure(
            processors=[structlog.dev.ConsoleRenderer(colors=False)],
            logger_factory=structlog.PrintLoggerFactory(stream),
            cache_logger_on_first_use=False,
        )
    else:
        configure_logging(renderer, "info", stream=stream, cache_loggers=False,  # type: ignore[arg-type]
                          secrets=["tok"])
    log = structlog.get_logger("bench")
    request = {"headers": {"authorization": "Bearer tok", "x": "y" * 50},
               "body": b"{" + b'"k": 1, ' * 250 + b"}"}
    times = []
    for _ in range(ERRORS):
        started = time.perf_counter()
        try:
            _failing(request)
        except RuntimeError:
            log.exception("unhandled_error", path="/x")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _metrics_growth(folder: Path) -> tuple[int, int]:
    settings = load_settings(environ={}, overrides={
        "store": {"sqlite_path": str(folder / "m.sqlite3")}, "server": {"log_level": "error"},
    })
    with TestClient(create_app(settings)) as client:
        before = len(client.get("/metrics").content)
        for i in range(METHODS):
            client.request(f"M{i}", "/health")
        return before, len(client.get("/metrics").content)


def _slowloris(folder: Path) -> tuple[float, float, float]:
    env = settings_env({
        "server": {"header_timeout": 2.0, "max_connections": 2_000, "log_level": "warning"},
        "store": {"sqlite_path": str(folder / "s.sqlite3")},
    })
    with serve_process(env, log_path=folder / "server.log") as server:
        socks = []
        for _ in range(HALF_SENT):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        started = time.monotonic()
        latencies = []
        with httpx.Client(timeout=30.0) as client:
            for _ in range(20):
                t = time.perf_counter()
                client.get(server.url + "/health")
                latencies.append((time.perf_counter() - t) * 1000)
        for sock in socks:
            sock.settimeout(30.0)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
        all_cut = time.monotonic() - started
        for sock in socks:
            sock.close()
    return statistics.median(latencies), max(latencies), all_cut


def main() -> None:
    """Print the figures (markdown)."""
    root = logging.getLogger()
    saved = list(root.handlers)
    print("| logging one 500 with its traceback | median |")
    print("|---|---|")
    for renderer in ("rich-before", "console", "json"):
        print(f"| {renderer} | {_log_cost(renderer):.2f} ms |")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    with tempfile.TemporaryDirectory() as tmp:
        before, after = _metrics_growth(Path(tmp))
        print(f"\n/metrics: {before} bytes before, {after} bytes after {METHODS} invented "
              "methods")
        p50, worst, cut = _slowloris(Path(tmp))
        print(f"\n{HALF_SENT} half-sent requests held: /health p50 {p50:.1f} ms, max "
              f"{worst:.1f} ms; all cut after {cut:.1f} s (header_timeout 2 s)")


if __name__ == "__main__":
    main()
