"""Settings: defaults, file, environment overrides, typed values and start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigError
from app.settings import load_settings


def test_defaults_match_the_spec() -> None:
    s = load_settings(environ={})
    assert s.server.roles == ["worldservice", "gateway"]
    assert s.worldservice.server.compat_rebalance_v2 is False
    assert s.worldservice.server.alpha_metrics_required is False
    assert s.gateway.rebalance_schema_version == 1
    assert s.gateway.enforce_live_guard is True
    assert s.store.backend == "sqlite" and s.controlbus.backend == "memory"


def test_env_overrides_are_typed() -> None:
    s = load_settings(
        environ={
            "WORLDGATE__SERVER__PORT": "9000",
            "WORLDGATE__WORLDSERVICE__SERVER__COMPAT_REBALANCE_V2": "true",
            "WORLDGATE__GATEWAY__ENFORCE_LIVE_GUARD": "false",
            "WORLDGATE__SECURITY__API_TOKENS": '["t1", "t2"]',
            "WORLDGATE__SERVER__ROLES": '["gateway"]',
            "UNRELATED": "x",
        }
    )
    assert s.server.port == 9000
    assert s.worldservice.server.compat_rebalance_v2 is True
    assert s.gateway.enforce_live_guard is False
    assert s.security.api_tokens == ["t1", "t2"]
    assert s.server.roles == ["gateway"]


def test_file_then_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[server]\nport = 7000\nhost = "0.0.0.0"\n[gateway]\nalpha_metrics_capable = true\n'
    )
    s = load_settings(environ={"WORLDGATE_CONFIG": str(cfg), "WORLDGATE__SERVER__PORT": "7001"})
    assert s.server.port == 7001
    assert s.server.host == "0.0.0.0"
    assert s.gateway.alpha_metrics_capable is True


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"WORLDGATE__SERVER__PROT": "1"}, "prot"),
        ({"WORLDGATE__SERVER__PORT": "abc"}, "server.port"),
        ({"WORLDGATE__NOPE__X": "1"}, "nope"),
        (
            {"WORLDGATE__WORLDSERVICE__SERVER__ALPHA_METRICS_REQUIRED": "true"},
            "compat_rebalance_v2",
        ),
        (
            {"WORLDGATE__WORLDSERVICE__SERVER__COMPAT_REBALANCE_V3": "true"},
            "compat_rebalance_v3 needs",
        ),
        ({"WORLDGATE__GATEWAY__REBALANCE_SCHEMA_VERSION": "4"}, "rebalance_schema_version"),
        ({"WORLDGATE__SERVER__ROLES": '["dbserver"]'}, "server.roles"),
        ({"WORLDGATE__SECURITY__API_TOKENS": "[oops"}, "API_TOKENS"),
    ],
)
def test_bad_config_names_the_key(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ=environ)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"WORLDGATE_CONFIG": "/nonexistent/x.toml"})


def test_shipped_rollout_examples_load() -> None:
    examples = Path(__file__).resolve().parent.parent / "config" / "examples"
    enabled = load_settings(examples / "v2-enabled.toml", environ={})
    assert enabled.worldservice.server.compat_rebalance_v2 is True
    assert enabled.worldservice.server.alpha_metrics_required is False
    assert (enabled.gateway.rebalance_schema_version, enabled.gateway.alpha_metrics_capable) == (
        2,
        True,
    )
    required = load_settings(examples / "v2-required.toml", environ={})
    assert required.worldservice.server.alpha_metrics_required is True
    v3 = load_settings(examples / "v3-enabled.toml", environ={})
    assert v3.worldservice.server.compat_rebalance_v2 is True
    assert v3.worldservice.server.compat_rebalance_v3 is True
    assert (v3.gateway.rebalance_schema_version, v3.gateway.alpha_metrics_capable) == (3, True)
