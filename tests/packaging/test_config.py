"""Packaging around the code: embedded defaults, the version, the readiness probe."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import __version__
from app.cli import SERVER_MODULES, cli, missing_server_modules, ready_url
from app.settings import load_settings, read_defaults

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults_and_the_documented_copy_never_drift() -> None:
    shipped = resources.files("app").joinpath("default.toml").read_bytes()
    documented = (ROOT / "config" / "default.toml").read_bytes()
    assert shipped == documented, (
        "config/default.toml must be a byte-identical copy of app/default.toml (the defaults "
        "shipped in the package): edit app/default.toml, then copy it over config/default.toml"
    )


def test_defaults_come_from_the_package_not_the_checkout(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config/ folder anywhere near
    assert read_defaults()["server"]["port"] == 8000
    assert load_settings(environ={}).server.port == 8000


def test_version_option() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"worldgate {__version__}"


def test_the_dev_install_has_every_server_module() -> None:
    settings = load_settings(environ={}, overrides={
        "store": {"backend": "postgres"}, "controlbus": {"backend": "redis"}})
    assert missing_server_modules(settings) == []
    assert "litestar" in SERVER_MODULES and "uvicorn" in SERVER_MODULES


@pytest.mark.parametrize(("server", "url"), [
    ({"host": "0.0.0.0", "port": 9100}, "http://127.0.0.1:9100/ready"),
    ({"host": "::", "port": 9101}, "http://[::1]:9101/ready"),
    ({"host": "10.1.2.3", "port": 9102, "roles": ["worldservice"]},
     "http://10.1.2.3:9102/worldservice/capabilities"),
])
def test_ready_probes_the_configured_port_and_role(server: dict[str, Any], url: str) -> None:
    assert ready_url(load_settings(environ={}, overrides={"server": server})) == url


def test_ready_command(v1_url: str, dead_url: str) -> None:
    port = v1_url.rsplit(":", 1)[1]
    ok = CliRunner().invoke(cli, ["ready"], env={"WORLDGATE__SERVER__PORT": port})
    assert ok.exit_code == 0 and "ready: http://127.0.0.1:" in ok.stdout
    dead = CliRunner().invoke(cli, ["ready"],
                              env={"WORLDGATE__SERVER__PORT": dead_url.rsplit(":", 1)[1]})
    assert dead.exit_code == 1 and dead.stderr.startswith("not ready: ")


_BLOCKED = """
import sys
class Missing:
    # What the base install lacks: the server stack and NumPy (the reports extra).
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name.split(".")[0])
sys.meta_path.insert(0, Missing())
"""
_SERVER_AND_NUMPY = ("litestar", "uvicorn", "numpy", "asyncpg", "redis", "anyio",
                     "dependency_injector", "prometheus_client")


def _without_extras(code: str) -> subprocess.CompletedProcess[str]:
    program = _BLOCKED.format(blocked=_SERVER_AND_NUMPY) + code
    return subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT)}, check=False)


def test_the_sdk_and_the_cli_import_without_the_extras() -> None:
    done = _without_extras(
        "import app.sdk, app.cli\n"
        "from app.sdk import GatewayClient, Runner, follow_events, plan_rows\n"
        "try:\n"
        "    from app.sdk import build_report\n"
        "except ImportError as exc:\n"
        "    print('hint:', exc)\n")
    assert done.returncode == 0, done.stderr
    assert "hint: app.sdk.build_report needs NumPy: pip install 'worldgate[reports]'" \
        in done.stdout


@pytest.mark.parametrize(("args", "hint"), [
    (["serve"], "pip install 'worldgate[server]'"),
    (["scopes"], "pip install 'worldgate[server]'"),
    (["report", "--from", "examples/returns.json"], "pip install 'worldgate[reports]'"),
    (["backtest", "--prices", "examples/prices.csv", "--out", "x"],
     "pip install 'worldgate[reports]'"),
])
def test_commands_that_need_an_extra_name_it(args: list[str], hint: str) -> None:
    done = _without_extras(f"import sys\nsys.argv = ['worldgate', *{args!r}]\n"
                           "from app.cli import main\nmain()\n")
    assert done.returncode == 2, done.stderr
    assert hint in done.stderr
