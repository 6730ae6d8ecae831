"""Console tests run the real app under uvicorn (the console calls the API over HTTP)."""

from __future__ import annotations

from tests.sdk.conftest import live_server

__all__ = ["live_server"]
