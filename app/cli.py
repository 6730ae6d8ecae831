"""The ``worldgate`` command line: ``serve`` plus the SDK commands."""

from __future__ import annotations

import sys

import click

from app.errors import ConfigError
from app.settings import load_settings

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
    import uvicorn

    from app.main import create_app

    overrides: dict[str, dict[str, object]] = {"server": {}}
    if host is not None:
        overrides["server"]["host"] = host
    if port is not None:
        overrides["server"]["port"] = port
    try:
        settings = load_settings(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.server.log_level,
        timeout_graceful_shutdown=int(settings.server.shutdown_timeout),
    )


def main() -> None:
    """Console-script entry point."""
    cli()
