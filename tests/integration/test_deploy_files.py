"""The deployment files: role configs load, the compose file wires them, the image is sane.

Docker itself is not run here; these checks catch the mistakes that do not need it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.container import build_container
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize(
    ("name", "roles"), [("worldservice", ["worldservice"]), ("gateway", ["gateway"])]
)
def test_role_configs_load_and_build(name: str, roles: list[str]) -> None:
    settings = load_settings(DEPLOY / f"{name}.toml", environ={})
    assert settings.server.roles == roles
    assert settings.server.host == "0.0.0.0"
    assert settings.store.backend == "postgres"
    assert settings.controlbus.backend == "redis"
    build_container(settings)  # a gateway-only config must name its WorldService


def test_all_processes_share_one_store_and_one_bus() -> None:
    ws = load_settings(DEPLOY / "worldservice.toml", environ={})
    gw = load_settings(DEPLOY / "gateway.toml", environ={})
    assert ws.store.postgres_dsn == gw.store.postgres_dsn
    assert (ws.controlbus.redis_url, ws.controlbus.stream_prefix) == (
        gw.controlbus.redis_url,
        gw.controlbus.stream_prefix,
    )
    assert gw.gateway.worldservice_url is not None
    assert gw.gateway.worldservice_url.startswith(f"http://worldservice:{ws.server.port}/")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_runs_each_role_with_its_config() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "worldservice", "gateway"} <= services.keys()
    for role in ("worldservice", "gateway"):
        service = services[role]
        path = service["environment"]["WORLDGATE_CONFIG"]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert (DEPLOY / mounts[path]).resolve() == (DEPLOY / f"{role}.toml").resolve()
    assert "ports" not in services["worldservice"]  # internal only
    # The Gateway URL names the compose service of WorldService.
    gw = load_settings(DEPLOY / "gateway.toml", environ={})
    assert gw.gateway.worldservice_url is not None
    assert "//worldservice:" in gw.gateway.worldservice_url


def test_dockerfile_runs_non_root_with_exec_form_and_data_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1)
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    by_name: dict[str, list[str]] = {}
    for name, *rest in instructions:
        by_name.setdefault(name.upper(), []).append(rest[0] if rest else "")
    assert by_name["FROM"][0].startswith("python:3.11-slim")
    assert by_name["USER"][-1] not in ("root", "0")
    assert json.loads(by_name["CMD"][-1])[:2] == ["worldgate", "serve"]  # exec form
    assert by_name["STOPSIGNAL"] == ["SIGTERM"]
    assert json.loads(by_name["VOLUME"][0]) == ["/data"]
    env = " ".join(by_name["ENV"])
    assert re.search(r"WORLDGATE__STORE__SQLITE_PATH=/data/", env)
    assert "WORLDGATE__SERVER__HOST=0.0.0.0" in env
    # The health check reads the same configuration as `serve`: no port written into it.
    (check,) = by_name["HEALTHCHECK"]
    assert json.loads(check.split("CMD", 1)[1].strip()) == ["worldgate", "ready"]
    assert "8000" not in check
    # The package is installed as a wheel would be, with the server extra; no editable
    # checkout is needed at run time (the defaults travel inside the package).
    runs = " ".join(by_name["RUN"])
    assert "'.[server]'" in runs and "-e ." not in runs and "config" not in " ".join(
        by_name["COPY"])


def test_compose_health_checks_use_the_probe_command() -> None:
    for name in ("worldservice",):
        test = compose()["services"][name]["healthcheck"]["test"]
        assert test == ["CMD", "worldgate", "ready"]
