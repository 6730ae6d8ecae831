"""The ``worldgate`` command line: ``serve`` plus the SDK commands."""

from __future__ import annotations

import sys

import click

from app.errors import ConfigError
from app.settings import Settings, load_settings

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Worldgate: multi-world rebalancing control plane."""


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Extra TOML config file (overrides config/default.toml; env overrides it).",
)
@click.option("--host", default=None, help="Bind address (overrides server.host).")
@click.option("--port", type=int, default=None, help="Port (overrides server.port).")
def serve(config_path: str | None, host: str | None, port: int | None) -> None:
    """Start the HTTP server with the configured roles."""
    from app.container import build_container
    from app.main import create_app
    from app.runtime.logging import configure_logging
    from app.runtime.serving import run_server

    overrides: dict[str, dict[str, object]] = {"server": {}}
    if host is not None:
        overrides["server"]["host"] = host
    if port is not None:
        overrides["server"]["port"] = port
    try:
        settings = load_settings(config_path, overrides=overrides)
        container = build_container(settings)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    configure_logging(
        settings.server.log_format,
        settings.server.log_level,
        secrets=[
            *settings.security.api_tokens,
            *filter(None, [settings.gateway.worldservice_api_key]),
        ],
    )
    run_server(create_app(container=container), settings, container.drain(), container.metrics())


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
    """Print every route of the configured roles and the API-key scope it needs."""
    import tempfile

    from app.main import create_app
    from app.web.scope_table import scope_rows, scope_table

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
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
