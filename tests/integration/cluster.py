"""Run Worldgate server processes (``worldgate serve``) for multi-process tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

__all__ = ["Node", "free_port", "scaleout_env"]

ROOT = Path(__file__).resolve().parents[2]
WORLDGATE = Path(sys.executable).with_name("worldgate")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scaleout_env(redis_url: str, stream_prefix: str, postgres_dsn: str) -> dict[str, str]:
    """Environment overrides putting a process on Redis Streams and PostgreSQL."""
    return {
        "WORLDGATE__CONTROLBUS__BACKEND": "redis",
        "WORLDGATE__CONTROLBUS__REDIS_URL": redis_url,
        "WORLDGATE__CONTROLBUS__STREAM_PREFIX": stream_prefix,
        "WORLDGATE__STORE__BACKEND": "postgres",
        "WORLDGATE__STORE__POSTGRES_DSN": postgres_dsn,
        "WORLDGATE__STORE__POSTGRES_POOL_SIZE": "4",
    }


class Node:
    """One ``worldgate serve`` process on a fixed loopback port, logging to a file.

    Args:
        name: a label (log file name).
        roles: the ``server.roles`` it runs.
        env: extra ``WORLDGATE__...`` overrides.
        log_dir: where ``<name>.log`` is written.
        port: the port (a free one when None); kept across restarts.
    """

    def __init__(
        self,
        name: str,
        roles: list[str],
        env: dict[str, str],
        log_dir: Path,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.roles = roles
        self.port = port or free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE")},
            "WORLDGATE__SERVER__HOST": "127.0.0.1",
            "WORLDGATE__SERVER__PORT": str(self.port),
            "WORLDGATE__SERVER__ROLES": "[" + ", ".join(f'"{r}"' for r in roles) + "]",
            "WORLDGATE__SERVER__LOG_FORMAT": "json",
            "WORLDGATE__SERVER__SHUTDOWN_TIMEOUT": "3",
            "WORLDGATE__STORE__SQLITE_PATH": str(log_dir / f"{name}.sqlite3"),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the process (returns at once; see ``wait_ready``)."""
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(WORLDGATE), "serve"], env=self.env, cwd=ROOT, stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until the process answers (``/ready`` or WorldService capabilities)."""
        path = "/ready" if "gateway" in self.roles else "/worldservice/capabilities"
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"{self.name} exited ({code}):\n{self.tail()}")
                try:
                    if client.get(self.url + path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work at all."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a graceful shutdown."""
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        """The end of the log (for failure messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
