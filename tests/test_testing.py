"""``app.testing``: ports, listeners, settings env, in-thread/in-task and child-process servers."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from pathlib import Path

import httpx
import pytest
import uvicorn
from litestar import Litestar, get

from app.settings import load_settings
from app.testing import (
    ServerProcess,
    ThreadedServer,
    free_port,
    serve_in_task,
    serve_in_thread,
    settings_env,
    tcp_listener,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "real_server_test.py"


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, str]:
    return {"pong": "yes"}


def _app() -> Litestar:
    return Litestar(route_handlers=[ping])


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port


def test_tcp_listener_says_tcp() -> None:
    with tcp_listener(reuse_address=True) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0


def test_settings_env_round_trips_through_load_settings() -> None:
    overrides = {
        "server": {"roles": ["gateway"], "log_level": "error"},
        "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
    }
    env = settings_env(overrides)
    assert env["WORLDGATE__SERVER__ROLES"] == '["gateway"]'
    assert env["WORLDGATE__GATEWAY__ALPHA_METRICS_CAPABLE"] == "true"
    settings = load_settings(environ=env)
    assert settings.server.roles == ["gateway"] and settings.server.log_level == "error"
    assert settings.gateway.rebalance_schema_version == 2
    assert settings.gateway.alpha_metrics_capable is True


def test_serve_in_thread_answers_and_releases_the_port() -> None:
    with serve_in_thread(_app()) as url:
        assert httpx.get(f"{url}/ping", trust_env=False).json() == {"pong": "yes"}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/ping", trust_env=False, timeout=2)


def test_threaded_server_runs_coroutines_on_its_loop() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    config = uvicorn.Config(_app(), log_level="error", lifespan="on")
    with ThreadedServer(uvicorn.Server(config)) as server:
        assert server.call(loop_id) == id(server.loop)
        assert server.url.endswith(str(server.port))


@pytest.mark.anyio
async def test_serve_in_task_serves_then_shuts_down() -> None:
    shut_down: list[bool] = []
    app = Litestar(route_handlers=[ping], on_shutdown=[lambda: shut_down.append(True)])
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    with tcp_listener() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with serve_in_task(server, sock):
            async with httpx.AsyncClient(trust_env=False) as client:
                assert (await client.get(f"{url}/ping")).status_code == 200
            assert not shut_down
        assert shut_down == [True], "the lifespan shutdown did not run"


def test_server_process_that_cannot_start_says_why(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    bad = {"WORLDGATE__SERVER__ROLES": '["nonsense"]'}
    with ServerProcess(bad, log_path=log) as server:
        server.start()
        with pytest.raises(RuntimeError, match="server exited"):
            server.wait_ready(30)
    assert "nonsense" in log.read_text()


def test_docs_example_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("real_server_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_plans_survive_a_restart(tmp_path)
