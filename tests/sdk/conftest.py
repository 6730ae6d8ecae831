"""Live-server fixtures: the SDK speaks real HTTP/WebSocket, so tests run a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.main import create_app
from app.sdk.client import GatewayClient
from app.settings import Settings
from app.testing import free_port, serve_in_thread, settings_env
from app.testing import serve_process as run_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

V2_OVERRIDES: dict[str, Any] = {
    "worldservice": {"server": {"compat_rebalance_v2": True}},
    "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
}
V3_OVERRIDES: dict[str, Any] = {
    "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
    "gateway": {"rebalance_schema_version": 3, "alpha_metrics_capable": True},
}


# ``serve`` is imported by the SDK tests under this name.
serve = serve_in_thread


@contextmanager
def serve_process(overrides: dict[str, Any], folder: Path) -> Iterator[str]:
    """Run ``worldgate serve`` for ``overrides`` in a child process until the block ends.

    Its logs go to ``folder/server.log`` (keeping them out of the CLI output that click's
    runner captures); its database is ``folder/worldgate.sqlite3``.
    """
    env = {
        **settings_env({"server": {"log_level": "error"}}),
        **settings_env(overrides),
        **settings_env({"store": {"sqlite_path": str(folder / "worldgate.sqlite3")}}),
    }
    with run_process(env, log_path=folder / "server.log", ready_path="/health") as server:
        yield server.url


@pytest.fixture(scope="module")
def served_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A v1 server in a child process, shared by one module's CLI tests."""
    with serve_process({}, tmp_path_factory.mktemp("v1")) as url:
        yield url


@pytest.fixture(scope="module")
def served_v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A v2 server in a child process, shared by one module's CLI tests."""
    with serve_process(V2_OVERRIDES, tmp_path_factory.mktemp("v2")) as url:
        yield url


@pytest.fixture(scope="module")
def served_v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A v3 server in a child process, shared by one module's CLI tests."""
    with serve_process(V3_OVERRIDES, tmp_path_factory.mktemp("v3")) as url:
        yield url


@pytest.fixture
def live_server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., str]]:
    """Start the real app for the given overrides; returns its base URL (stopped after)."""
    stack: list[Any] = []

    def start(overrides: dict[str, Any] | None = None) -> str:
        cm = serve(create_app(make_settings(overrides)))
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def v1_url(live_server: Callable[..., str]) -> str:
    """A server on the default (v1) settings."""
    return live_server()


@pytest.fixture
def v2_url(live_server: Callable[..., str]) -> str:
    """A server with WorldService v2 and a v2, alpha-capable Gateway."""
    return live_server(V2_OVERRIDES)


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on (a port just bound and released)."""
    return f"http://127.0.0.1:{free_port()}"


def apply_plan_history(url: str, count: int = 4, *, prefix: str = "hist") -> list[str]:
    """Apply ``count`` v2 plans of ``examples/plan_request.json`` with changing returns.

    Each apply sends different realized returns for both worlds, so the stored plans carry
    different ``alpha_metrics``; returns the run ids, oldest first.
    """
    body = msgspec.json.decode((EXAMPLES / "plan_request.json").read_bytes())
    run_ids = []
    with GatewayClient(url) as client:
        for i in range(count):
            wiggle = [0.01 * ((i + k) % 5 - 2) + 0.002 * i for k in range(12)]
            body["realized_returns_by_world"] = {
                "crypto-momo": wiggle, "equity-carry": [r / 2 + 0.001 for r in wiggle]}
            run_id = f"{prefix}-{i}"
            client.apply_raw(body, run_id=run_id)
            run_ids.append(run_id)
    return run_ids
