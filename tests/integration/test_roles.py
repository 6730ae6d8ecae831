"""``server.roles``: a process loads and serves only the services it hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.errors import ConfigError
from app.main import create_app
from app.settings import Settings

# Runs in a fresh interpreter: builds and starts the app for the environment's roles, asks
# for /health and /worldservice/capabilities, and reports which app modules got imported.
PROBE = """
import json, sys
from litestar.testing import TestClient
from app.main import create_app
with TestClient(create_app()) as client:
    health = client.get("/health")
    caps = client.get("/worldservice/capabilities")
    out = {
        "health_status": health.status_code,
        "health": health.json() if health.status_code == 200 else None,
        "capabilities_status": caps.status_code,
    }
out["modules"] = sorted(m for m in sys.modules if m.startswith("app."))
print("PROBE" + json.dumps(out))
"""

def probe(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "WORLDGATE__STORE__SQLITE_PATH": str(tmp_path / "db.sqlite3"), **env},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE"))
    out: dict[str, Any] = json.loads(line[len("PROBE") :])
    return out


def test_gateway_only_process_never_loads_worldservice(tmp_path: Path) -> None:
    out = probe(
        tmp_path,
        {
            "WORLDGATE__SERVER__ROLES": '["gateway"]',
            # Nothing listens there: health must say so, not fail.
            "WORLDGATE__GATEWAY__WORLDSERVICE_URL": "http://127.0.0.1:9/worldservice",
            "WORLDGATE__GATEWAY__PROBE_TIMEOUT": "0.3",
            "WORLDGATE__GATEWAY__WORLDSERVICE_RETRIES": "0",
        },
    )
    # Nothing of WorldService (the outbox publisher lives in app.store: every process runs one).
    loaded = [m for m in out["modules"] if m.split(".")[:2] == ["app", "worldservice"]]
    assert not loaded, loaded
    assert "app.gateway.http_client" in out["modules"]
    assert out["capabilities_status"] == 404  # WorldService routes are not served here
    # Health reports each component, the remote WorldService included.
    assert out["health_status"] == 200
    health = out["health"]
    assert health["worldservice"] == "down"
    assert health["store"] == "ok" and health["controlbus"] == "ok"
    assert health["status"] == "degraded"


def test_worldservice_only_process_never_loads_the_gateway(tmp_path: Path) -> None:
    out = probe(tmp_path, {"WORLDGATE__SERVER__ROLES": '["worldservice"]'})
    assert not [m for m in out["modules"] if m.startswith("app.gateway")]
    assert out["capabilities_status"] == 200
    assert out["health_status"] == 404  # the Gateway's routes are not served here


def test_gateway_only_without_worldservice_url_is_a_config_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings({"server": {"roles": ["gateway"]}})
    with pytest.raises(ConfigError, match="worldservice_url"):
        create_app(settings)
