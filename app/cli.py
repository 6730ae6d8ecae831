"""The ``worldgate`` command line: ``serve`` and ``ready`` plus the SDK commands."""

from __future__ import annotations

import sys
from importlib import metadata
from importlib.util import find_spec

import click

from app import __version__
from app.errors import ConfigError
from app.settings import Settings, load_settings

__all__ = ["SERVER_MODULES", "cli", "main", "missing_server_modules"]

SERVER_MODULES = ("litestar", "uvicorn", "anyio", "dependency_injector", "prometheus_client",
                  "numpy")
"""What ``worldgate serve`` imports whatever the configuration (the ``server`` extra)."""

EXIT_CONFIG = 2
SERVER_EXTRA_HINT = "pip install 'worldgate[server]'"


def _version() -> str:
    try:
        return metadata.version("worldgate")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="worldgate",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """Worldgate: multi-world rebalancing control plane."""


def missing_server_modules(settings: Settings) -> list[str]:
    """The modules of the ``server`` extra that ``settings`` needs and are not installed."""
    wanted = list(SERVER_MODULES)
    if settings.store.backend == "postgres":
        wanted.append("asyncpg")
    if settings.controlbus.backend == "redis":
        wanted.append("redis")
    return [name for name in wanted if not _installed(name)]


def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ImportError:  # a finder that knows the module is missing (or broken) says so
        return False


def _load(config_path: str | None, overrides: dict[str, dict[str, object]]) -> Settings:
    try:
        return load_settings(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


_CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Extra TOML config file (overrides the embedded defaults; env overrides it).",
)


@cli.command()
@_CONFIG_OPTION
@click.option("--host", default=None, help="Bind address (overrides server.host).")
@click.option("--port", type=int, default=None, help="Port (overrides server.port).")
def serve(config_path: str | None, host: str | None, port: int | None) -> None:
    """Start the HTTP server with the configured roles (needs the ``server`` extra)."""
    overrides: dict[str, dict[str, object]] = {"server": {}}
    if host is not None:
        overrides["server"]["host"] = host
    if port is not None:
        overrides["server"]["port"] = port
    settings = _load(config_path, overrides)
    missing = missing_server_modules(settings)
    if missing:
        click.echo(
            f"worldgate serve needs the server extra (missing: {', '.join(missing)}); "
            f"install it with: {SERVER_EXTRA_HINT}",
            err=True,
        )
        sys.exit(EXIT_CONFIG)

    from app.container import build_container
    from app.main import create_app
    from app.runtime.logging import configure_logging
    from app.runtime.serving import run_server
    from app.store.adapters.sqlite_lock import StoreLock

    store = settings.store
    owner = (StoreLock(store.sqlite_path) if store.backend == "sqlite" and store.single_owner
             else None)
    try:
        container = build_container(settings)
        if owner is not None:
            # Taken before the server starts, so a second process on the same file stops
            # here with one clear line; the store shares this process's lock when it starts.
            owner.db_path.parent.mkdir(parents=True, exist_ok=True)
            owner.acquire()
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except OSError as exc:
        click.echo(f"configuration error: store.sqlite_path {settings.store.sqlite_path}: "
                   f"{exc.strerror or exc}", err=True)
        sys.exit(EXIT_CONFIG)
    configure_logging(
        settings.server.log_format,
        settings.server.log_level,
        secrets=[
            *settings.security.api_tokens,
            *filter(None, [settings.gateway.worldservice_api_key]),
        ],
    )
    try:
        run_server(create_app(container=container), settings, container.drain(),
                   container.metrics())
    finally:
        if owner is not None:
            owner.release()


def ready_url(settings: Settings) -> str:
    """The local URL that answers 200 once this configuration's server is ready.

    ``/ready`` where the Gateway runs, else ``/worldservice/capabilities``; a wildcard bind
    address is probed on loopback.
    """
    host = settings.server.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    path = "/ready" if "gateway" in settings.server.roles else "/worldservice/capabilities"
    return f"http://{host}:{settings.server.port}{path}"


@cli.command()
@_CONFIG_OPTION
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=2.0,
              show_default=True, help="Seconds to wait for the answer.")
def ready(config_path: str | None, timeout: float) -> None:
    """Probe the local server of this configuration: exit 0 ready, 1 not (container checks)."""
    import httpx

    settings = _load(config_path, {})
    if settings.server.port == 0:
        click.echo("not ready: server.port is 0 (a random port); cannot probe it", err=True)
        sys.exit(1)
    url = ready_url(settings)
    try:
        answer = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        click.echo(f"not ready: {url}: {exc or type(exc).__name__}", err=True)
        sys.exit(1)
    if answer.status_code != 200:
        click.echo(f"not ready: {url} answered {answer.status_code}", err=True)
        sys.exit(1)
    click.echo(f"ready: {url}")


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Extra TOML config file (its server.roles pick the routes).",
)
@click.option("--markdown", is_flag=True, help="The Markdown table of docs/security.md.")
def scopes(config_path: str | None, markdown: bool) -> None:
    """Print every route of the configured roles and the API-key scope it needs (needs the
    ``server`` extra: the routes are read from the app itself)."""
    import tempfile

    settings = _load(config_path, {})
    missing = [name for name in SERVER_MODULES if not _installed(name)]
    if missing:
        click.echo(
            f"worldgate scopes needs the server extra (missing: {', '.join(missing)}); "
            f"install it with: {SERVER_EXTRA_HINT}",
            err=True,
        )
        sys.exit(EXIT_CONFIG)

    from app.main import create_app
    from app.web.scope_table import scope_rows, scope_table

    with tempfile.TemporaryDirectory() as folder:
        # Only the routes are read: the app is built, never started, on a scratch store.
        app = create_app(_on_scratch_store(settings, folder))
    if markdown:
        click.echo(scope_table(app))
        return
    for method, route, scope in scope_rows(app):
        click.echo(f"{method:<6} {route:<52} {scope.replace('`', '')}")


def _on_scratch_store(settings: Settings, folder: str) -> Settings:
    """``settings`` on a SQLite file in ``folder`` (nothing of the real store is touched)."""
    import msgspec

    store = msgspec.structs.replace(
        settings.store, backend="sqlite", sqlite_path=f"{folder}/scopes.sqlite3"
    )
    return msgspec.structs.replace(settings, store=store)


def _add_sdk_commands() -> None:
    # The SDK commands live in app.sdk (they never import the services).
    from app.sdk.cli_commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_sdk_commands()


def main() -> None:
    """Console-script entry point."""
    from app.runtime.logging import configure_logging

    # SDK commands print their results on stdout: their log lines go to stderr, warnings
    # and up only. ``serve`` reconfigures logging from its settings.
    configure_logging("console", "warning")
    cli()
