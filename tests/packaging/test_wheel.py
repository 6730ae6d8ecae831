"""The built wheel, installed into fresh virtual environments on Python 3.11, 3.12 and 3.13.

Each run: the base install (SDK and client commands) imports the SDK without the server
stack or NumPy, its CLI talks to a live server, and ``serve`` and ``report`` name the extra
they need; the ``reports`` extra makes ``report`` work; then the ``server`` extra is added
and the installed ``worldgate serve`` answers ``worldgate health`` (no checkout on the path:
the embedded defaults come from inside the package).
"""

from __future__ import annotations

import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from app import __version__
from app.testing import ServerProcess, free_port, serve_process, settings_env
from tests.packaging.wheel_support import (
    PYTHONS,
    ROOT,
    SERVER_ONLY,
    Venv,
    build_wheel,
    clean_env,
    interpreter,
    run,
)

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once per test process."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def checkout_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server from the checkout, for the base install's client commands."""
    folder = tmp_path_factory.mktemp("checkout-server")
    env = settings_env({"server": {"log_level": "error"},
                        "store": {"sqlite_path": str(folder / "db.sqlite3")}})
    with serve_process(env, log_path=folder / "server.log", ready_path="/health") as server:
        yield server.url


def test_wheel_carries_the_defaults_and_the_license(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/default.toml" in names and "app/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # Every data file of the package travels: the console's pages, the offline API docs.
    assets = {str(p.relative_to(ROOT)) for folder in ("app/console/static", "app/web/openapi_ui")
              for p in (ROOT / folder).rglob("*") if p.is_file()}
    assert assets and assets <= set(names), sorted(assets - set(names))
    shipped = zipfile.ZipFile(wheel).read("app/default.toml")
    assert shipped == (ROOT / "config" / "default.toml").read_bytes()
    meta = zipfile.ZipFile(wheel).read(f"worldgate-{__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.11" in meta and "License-Expression: MIT" in meta
    assert "Provides-Extra: server" in meta
    base = [line for line in meta.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [line for line in base if any(m.split("_")[0] in line for m in SERVER_ONLY)]


def _base_checks(venv: Venv, server_url: str, work: Path) -> None:
    probe = ("import sys, importlib.util, app, app.sdk\n"
             f"server = {SERVER_ONLY!r}\n"
             "print(app.__file__)\n"
             "print([m for m in server if importlib.util.find_spec(m) is not None])\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in server))\n")
    out = run(venv.python, "-c", probe, cwd=work, env=clean_env()).stdout.splitlines()
    assert out[0].startswith(str(venv.path)), out  # the installed package, not the checkout
    assert out[1] == "[]" and out[2] == "[]", out
    version = run(venv.bin / "worldgate", "--version", cwd=work, env=clean_env()).stdout
    assert version.strip() == f"worldgate {__version__}"
    health = run(venv.bin / "worldgate", "health", "--url", server_url, "--json", cwd=work,
                 env=clean_env())
    assert msgspec.json.decode(health.stdout)["status"] == "ok"
    plan = run(venv.bin / "worldgate", "plan", "--url", server_url, "--target",
               "core=0.5,alpha=0.5", "--positions", EXAMPLES / "positions.json", cwd=work,
               env=clean_env())
    assert msgspec.json.decode(plan.stdout)["schema_version"] == 1
    serve = run(venv.bin / "worldgate", "serve", cwd=work, env=clean_env(), check=False)
    assert serve.returncode == 2
    assert "pip install 'worldgate[server]'" in serve.stderr and "litestar" in serve.stderr
    report = run(venv.bin / "worldgate", "report", "--from", EXAMPLES / "returns.json",
                 cwd=work, env=clean_env(), check=False)
    assert report.returncode == 2 and "pip install 'worldgate[reports]'" in report.stderr


def _report_checks(venv: Venv, work: Path) -> None:
    out = work / "report.md"
    run(venv.bin / "worldgate", "report", "--from", EXAMPLES / "returns.json", "--out", out,
        cwd=work, env=clean_env())
    assert "sharpe" in out.read_text().lower()


def _serve_and_check(venv: Venv, work: Path) -> None:
    port = free_port()
    server = ServerProcess({"WORLDGATE__SERVER__LOG_LEVEL": "warning"}, port=port,
                           log_path=work / "server.log", cwd=work,
                           command=[str(venv.bin / "worldgate"), "serve"])
    # The installed console script, with nothing of the checkout on its path.
    server.env = clean_env(**{k: v for k, v in server.env.items() if k.startswith("WORLDGATE")})
    server.start()
    try:
        server.wait_ready(60)
        health = run(venv.bin / "worldgate", "health", "--url", server.url,
                     "--expect-schema-version", "1", cwd=work, env=clean_env())
        assert health.stdout.startswith("ok: "), health.stdout
        ready = run(venv.bin / "worldgate", "ready", cwd=work,
                    env=clean_env(WORLDGATE__SERVER__PORT=str(port)))
        assert ready.stdout.startswith("ready: ")
        assert (work / "var" / "worldgate.sqlite3").exists()  # the default path, from the wheel
        with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as http:
            assert http.get("/console").status_code == 200  # pages from the package data
            assert http.get("/schema/swagger").status_code == 200
        proc = server.proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, server.tail()
    finally:
        server.kill()


@pytest.mark.parametrize("version", sorted(PYTHONS))
def test_wheel_installs_and_serves(version: str, wheel: Path, checkout_server: str,
                                   tmp_path: Path) -> None:
    python = interpreter(version)
    venv = Venv(python, version, tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    venv.install(str(wheel))
    _base_checks(venv, checkout_server, work)
    venv.install(f"{wheel}[reports]")
    _report_checks(venv, work)
    venv.install(f"{wheel}[server]")
    _serve_and_check(venv, work)
