"""Options, output and error handling shared by the SDK's CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from app.errors import Code
from app.sdk.errors import (
    ForbiddenScope,
    PermissionDenied,
    RateLimited,
    SdkError,
    Unauthorized,
    Unreachable,
    WorldgateError,
)
from app.sdk.io import InputError

__all__ = [
    "DEFAULT_URL",
    "EXIT_FAILED",
    "EXIT_UNREACHABLE",
    "bad_input",
    "cannot",
    "connection_options",
    "console",
    "fail_sdk",
    "hint_for",
    "read_option",
]

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_FAILED = 1
EXIT_UNREACHABLE = 2
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr (click's test runner swaps them)."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def connection_options(fn: F) -> F:
    """Add ``--url``, ``--token`` and ``--timeout`` to a command."""
    fn = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
                      show_default=True, help="Seconds per HTTP call.")(fn)
    fn = click.option("--token", envvar="WORLDGATE_TOKEN", default=None,
                      help="Bearer token (env WORLDGATE_TOKEN), when the server requires one.")(fn)
    fn = click.option("--url", envvar="WORLDGATE_URL", default=DEFAULT_URL, show_default=True,
                      help="Gateway root URL (env WORLDGATE_URL).")(fn)
    return fn


def bad_input(exc: InputError, param: str) -> NoReturn:
    """Turn an input problem into click's usage error (exit 2, one clear line)."""
    raise click.BadParameter(str(exc), param_hint=param)


def read_option(param: str, read: Callable[..., T], *args: Any) -> T:
    """Call ``read(*args)`` on what ``param`` gave; an ``InputError`` becomes a usage error.

    Args:
        param: the option (``--target``), named in the error.
        read: the parser or reader.
        *args: its arguments.

    Returns:
        What ``read`` returns.
    """
    try:
        return read(*args)
    except InputError as exc:
        bad_input(exc, param)


def cannot(action: str, path: object, exc: OSError, param: str) -> NoReturn:
    """Turn a file-system failure into click's usage error (``cannot write x: reason``)."""
    raise click.BadParameter(f"cannot {action} {path}: {exc.strerror}", param_hint=param) \
        from None


def hint_for(exc: SdkError) -> str | None:
    """The CLI flag that answers a refusal (401 → ``--token``, live guard → ``--allow-live``,
    a missing scope → a key that holds it)."""
    if isinstance(exc, Unauthorized):
        return ("the server requires a bearer token: pass it with --token SECRET "
                "(or set WORLDGATE_TOKEN), the secret of an API key; an unknown, revoked or "
                "expired key is refused the same way")
    if isinstance(exc, ForbiddenScope):
        scope = exc.missing_scope or "?"
        return (f"the key passed with --token lacks the scope {scope}: use a key that holds "
                f"it (an admin creates one with: worldgate keys create --scope {scope} ...)")
    if isinstance(exc, RateLimited):
        wait = f" in {exc.retry_after} s" if exc.retry_after is not None else " later"
        return f"the key is over its requests per minute; retry{wait}"
    if isinstance(exc, PermissionDenied):
        if exc.code == Code.SHARED_ACCOUNT_DISABLED:
            return ("--shared-account needs gateway.shared_account_policy.enabled = true "
                    "on the server")
        if "allow-live" in exc.detail.lower():
            return "submitting live orders needs --allow-live (sends X-Allow-Live: true)"
    return None


def fail_sdk(exc: SdkError) -> NoReturn:
    """Print an SDK error (and the flag that helps) on stderr and exit: 2 unreachable, 1 else."""
    if isinstance(exc, Unreachable):
        click.echo(f"unreachable: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE)
    click.echo(f"error: {exc}", err=True)
    if isinstance(exc, WorldgateError):
        for item in exc.errors:
            click.echo(f"  {item.get('path', '?')}: {item.get('message', '')}", err=True)
    hint = hint_for(exc)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    raise SystemExit(EXIT_FAILED)
