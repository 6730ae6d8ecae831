"""Fixtures of the packaging tests: the SDK tests' live servers."""

from __future__ import annotations

from tests.sdk.conftest import dead_url, live_server, v1_url

__all__ = ["dead_url", "live_server", "v1_url"]
