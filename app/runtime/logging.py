"""structlog set-up: JSON lines in production, readable console lines in development.

Whatever the format, no line carries a secret: configured tokens, ``Bearer`` credentials, API
key secrets (``wgk_...``), the browser's WebSocket token subprotocol
(``worldgate.bearer.<base64url>``) and the ``user:password@`` part of URLs are replaced by
``[redacted]``, and exceptions are
written as plain tracebacks (file, line, function, message), never with local variables,
so a failing request's headers and body stay out of the log, and logging an error costs
about as much as any other line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog

__all__ = ["REDACTED", "configure_logging", "redactor"]

REDACTED = "[redacted]"

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# ``Bearer <credential>`` anywhere in a text (a header echoed in a message, a repr).
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;)}\]]+")
# An API key secret as the server issues them (``wgk_`` + base64url), wherever it appears.
_KEY_SECRET = re.compile(r"\bwgk_[A-Za-z0-9_\-]+")
# The console's WebSocket token, offered as the subprotocol ``worldgate.bearer.<base64url>``.
_BEARER_SUBPROTOCOL = re.compile(r"(?i)\b(worldgate\.bearer\.)[A-Za-z0-9_\-=]+")
# The userinfo of a URL: ``scheme://user:password@host`` -> ``scheme://[redacted]@host``.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@\"']*@")
# Keys whose whole value is a credential, whatever it looks like.
_SECRET_KEYS = frozenset({
    "authorization", "token", "password", "api_tokens", "secret", "worldservice_api_key",
})
_SCALARS = (bool, int, float, type(None))

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def redactor(secrets: Iterable[str] = ()) -> Processor:
    """Build the processor that scrubs credentials from every value of a log event.

    Args:
        secrets: literal values never to write (the configured bearer tokens, the
            Gateway's WorldService key).

    Returns:
        A structlog processor; it also scrubs strings inside lists, tuples and dicts, and
        turns other objects into their scrubbed ``str``.
    """
    literals = sorted({s for s in secrets if s}, key=len, reverse=True)
    exact = re.compile("|".join(re.escape(s) for s in literals)) if literals else None

    def scrub(text: str) -> str:
        if exact is not None:
            text = exact.sub(REDACTED, text)
        if "://" in text:
            text = _USERINFO.sub(rf"\1{REDACTED}@", text)
        if "wgk_" in text:
            text = _KEY_SECRET.sub(REDACTED, text)
        if "bearer" in text.lower():
            text = _BEARER_SUBPROTOCOL.sub(rf"\1{REDACTED}", text)
            text = _BEARER.sub(rf"\1{REDACTED}", text)
        return text

    def clean(value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, _SCALARS):
            return value
        if depth < 3 and isinstance(value, list | tuple):
            return [clean(item, depth + 1) for item in value]
        if depth < 3 and isinstance(value, dict):
            return {
                str(k): REDACTED if str(k).lower() in _SECRET_KEYS else clean(v, depth + 1)
                for k, v in value.items()
            }
        return scrub(str(value))

    def process(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key.lower() in _SECRET_KEYS:
                event[key] = REDACTED
            elif type(value) is str:
                event[key] = scrub(value)
            elif not isinstance(value, _SCALARS):  # numbers and None need no scrubbing
                event[key] = clean(value)
        return event

    return process


class _LineLogger:
    """Writes lines rendered by structlog to a ``logging.StreamHandler``'s stream, under its
    lock (lines from the standard library's loggers go through that handler)."""

    __slots__ = ("handler", "name")

    def __init__(self, name: str, handler: logging.StreamHandler[TextIO]) -> None:
        self.name = name  # read by structlog.stdlib.add_logger_name
        self.handler = handler

    def write(self, line: str) -> None:
        """Write one rendered line (a failure is reported as ``logging`` reports its own)."""
        handler = self.handler
        handler.acquire()
        try:
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:  # as logging.Handler.emit: never let a log line break a request
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()

    debug = info = warning = warn = error = critical = exception = fatal = msg = log = write


class _LineLoggerFactory:
    """structlog logger factory: one :class:`_LineLogger` per logger name."""

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self.handler = handler

    def __call__(self, *args: Any) -> _LineLogger:
        name = args[0] if args and isinstance(args[0], str) else _caller_module()
        return _LineLogger(name, self.handler)


def _caller_module() -> str:
    """The module that asked for a logger without a name (as structlog's stdlib factory)."""
    frame, name = structlog._frames._find_first_app_frame_and_name(["structlog", __name__])
    del frame
    return name


def configure_logging(
    log_format: Literal["console", "json"] = "console",
    log_level: str = "info",
    stream: TextIO | None = None,
    cache_loggers: bool = True,
    secrets: Iterable[str] = (),
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
        secrets: values never written (``security.api_tokens``,
            ``gateway.worldservice_api_key``); ``Bearer`` credentials, API key secrets, the
            WebSocket token subprotocol and URL passwords are scrubbed in any case.
    """
    level = _LEVELS.get(log_level.lower(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # A plain traceback string (no locals: they hold headers and bodies), made before
        # the redaction so exception messages are scrubbed too.
        structlog.processors.format_exc_info,
        redactor(secrets),
    ]
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    # structlog's own events are rendered by structlog and written to the same stream under
    # the handler's lock: the same line as through the standard library, for a third of the
    # CPU (no LogRecord, no copy of it, no formatter pass: this is the access log's path).
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=_LineLoggerFactory(handler),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=cache_loggers,
    )
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
