"""Browser tests reuse the SDK tests' live server (the app under uvicorn in a thread)."""

from __future__ import annotations

from tests.sdk.conftest import live_server

__all__ = ["live_server"]
