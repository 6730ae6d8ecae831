"""The SDK's loggers: standard ``logging`` loggers under ``app.sdk``, and nothing else.

A library must not decide where its lines go: the SDK never configures logging, never
prints, and uses no global structlog set-up (an unconfigured structlog prints coloured lines
to stdout, into the notebook of whoever imported us). Each event goes to the ``logging``
logger of its module as one line, ``event key=value ...``, with the fields also attached to
the record as ``record.worldgate``. ``app.sdk`` carries a ``NullHandler`` (the standard
advice for libraries), so nothing is shown until the application configures logging, e.g.
``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["SdkLogger", "get_logger"]

logging.getLogger("app.sdk").addHandler(logging.NullHandler())


class SdkLogger:
    """Writes snake_case events with key–value fields to one ``logging`` logger.

    Args:
        name: the logger name (the module's ``__name__``).
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])
        self.logger.log(level, "%s", text, extra={"worldgate": {"event": event, **fields}})

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at DEBUG."""
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at INFO."""
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at WARNING."""
        self._log(logging.WARNING, event, fields)


def get_logger(name: str) -> SdkLogger:
    """The SDK logger of module ``name``."""
    return SdkLogger(name)
