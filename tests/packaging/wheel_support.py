"""Build the wheel once per test process and install it into fresh virtual environments.

Dependencies come from a wheelhouse kept between runs (``WORLDGATE_TEST_WHEELHOUSE``, default
``~/.cache/worldgate/wheelhouse``, one folder per Python version): an install first tries it
alone (``--no-index``); when something is missing, ``pip download`` fills it from the index
and the install is tried again. A clean machine pays the download once per Python version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = {
    "3.11": sys.executable,
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python",
}
"""The interpreters the wheel is proven on (``requires-python = ">=3.11"``)."""

SERVER_ONLY = ("litestar", "uvicorn", "numpy", "asyncpg", "redis", "dependency_injector",
               "prometheus_client")
_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "app")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child: no ``WORLDGATE__*``, no ``PYTHONPATH`` (the checkout must
    not leak into the installed package), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WORLDGATE") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def run(*args: str | Path, timeout: float = 300, check: bool = True,
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text; fail the test with its output when ``check``."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def build_wheel(out: Path) -> Path:
    """Build the wheel from a copy of the sources (workers never share a build folder)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in _SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out / "dist",
        src, env=clean_env())
    wheels = list((out / "dist").glob("worldgate-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def interpreter(version: str) -> str:
    """The interpreter of ``version``; skipped when absent, unless services are required."""
    path = PYTHONS[version]
    if Path(path).exists():
        return path
    if os.environ.get("WORLDGATE_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"Python {version} is required for the wheel test but {path} is missing")
    pytest.skip(f"Python {version} not found at {path}")


def wheelhouse(version: str) -> Path:
    """The dependency cache folder of one Python version."""
    root = os.environ.get("WORLDGATE_TEST_WHEELHOUSE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "worldgate" / "wheelhouse")
    folder = Path(root) / f"py{version}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Venv:
    """A fresh virtual environment of one Python version, filled by the outer pip.

    Args:
        python: the base interpreter.
        version: its ``X.Y`` (names the wheelhouse).
        path: where the environment is created.
    """

    def __init__(self, python: str, version: str, path: Path) -> None:
        self.version = version
        self.path = path
        # No pip inside: the test's own pip installs into it (``pip --python``), which saves
        # bootstrapping pip three times.
        run(python, "-m", "venv", "--without-pip", path, env=clean_env())
        self.python = path / "bin" / "python"
        self.bin = path / "bin"

    def install(self, requirement: str) -> None:
        """Install ``requirement`` from the wheelhouse, filling it from the index if needed."""
        house = wheelhouse(self.version)
        pip = (sys.executable, "-m", "pip", "--python", self.python)
        local = (*pip, "install", "--no-index", "--find-links", house, requirement)
        if run(*local, check=False, env=clean_env()).returncode == 0:
            return
        run(*pip, "download", "--dest", house, requirement, env=clean_env(), timeout=600)
        for own in house.glob("worldgate-*"):  # never cache the package under test
            own.unlink()
        run(*local, env=clean_env())
