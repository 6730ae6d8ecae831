"""The operator console at ``/console``: a client of the public HTTP and WebSocket API."""

from __future__ import annotations

from app.console.router import console_router

__all__ = ["console_router"]
