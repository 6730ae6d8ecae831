"""structlog set-up: JSON lines in production, readable console lines in development."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

__all__ = ["configure_logging"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    log_format: Literal["console", "json"] = "console",
    log_level: str = "info",
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Route structlog and the standard ``logging`` module (uvicorn) through one renderer.

    Every line carries the context bound with ``structlog.contextvars`` (the request id of
    the request being served), a level, a logger name and an ISO-8601 UTC timestamp.

    Args:
        log_format: ``"json"`` for one JSON object a line, ``"console"`` for humans.
        log_level: the lowest level written (debug, info, warning, error).
        stream: where lines go; standard error when None.
        cache_loggers: let structlog freeze loggers on first use (fast; tests that
            reconfigure logging pass False).
    """
    level = _LEVELS.get(log_level.lower(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=cache_loggers,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers keep their own handlers when it configured them; send them to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
        uv.disabled = False
    # One INFO line per outgoing HTTP call (Gateway -> WorldService) is noise, not news.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
