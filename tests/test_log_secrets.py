"""No log line carries a token, a body or a URL password, whatever the format."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from dependency_injector import providers
from litestar.testing import TestClient

from app.container import build_container
from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.main import create_app
from app.runtime.logging import REDACTED, configure_logging, redactor
from app.settings import Settings
from app.worldservice.plans import PlanningService
from tests.web.keys_support import ROOT_SECRET, auth, make_key, plan_body, root_settings

SECRET = "tok-7f3a9c1e5b2d4f60a8e1"
BODY_MARKER = "BODY-MARKER-4c1d9e"
URL_PASSWORD = "hunter2-url-password"


class ExplodingPlanning(PlanningService):
    """A real planning service whose planner hits a bug (an unexpected exception)."""

    async def answer(self, request: RebalanceRequest) -> PlanResponse:
        headers = {"authorization": f"Bearer {SECRET}"}  # a local a rich traceback would show
        raise RuntimeError(f"planner bug near {len(headers)} headers")


@pytest.fixture
def log_into() -> Iterator[Callable[[str], io.StringIO]]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_config = structlog.get_config()

    def setup(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(
            log_format,  # type: ignore[arg-type]
            "debug",
            stream=stream,
            cache_loggers=False,
            secrets=[SECRET],
        )
        return stream

    yield setup
    structlog.configure(**saved_config)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_500_logs_a_plain_traceback_without_headers_or_body(
    log_into: Callable[[str], io.StringIO],
    make_settings: Callable[..., Settings],
    log_format: str,
) -> None:
    stream = log_into(log_format)
    settings = make_settings({"security": {"api_tokens": [SECRET]}})
    container = build_container(settings)
    container.planning.override(providers.Object(ExplodingPlanning(settings)))
    body = {
        "total_equity": 1.0,
        "world_alloc_before": {"w": 1.0},
        "world_alloc_after": {"w": 1.0},
        "positions": [],
        "rebalance_intent": {"meta": {"note": BODY_MARKER}},
    }
    headers = {"Authorization": f"Bearer {SECRET}", "X-Request-ID": "leak-check"}
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        response = client.post("/rebalancing/plan", json=body, headers=headers)
        assert response.status_code == 500
        assert response.json()["code"] == "E_INTERNAL"
    out = stream.getvalue()
    assert "unhandled_error" in out and "RuntimeError" in out
    assert "planner bug near 1 headers" in out  # the message and traceback are kept
    assert "answer" in out  # ... with the failing function named
    assert SECRET not in out
    assert BODY_MARKER not in out
    assert "locals" not in out.lower()


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_credentials_in_any_field_are_redacted(
    log_into: Callable[[str], io.StringIO], log_format: str
) -> None:
    stream = log_into(log_format)
    log = structlog.get_logger("tests.secrets")
    log.warning("token_seen", detail=f"header was Bearer {SECRET}")
    log.warning("token_seen_raw", value=SECRET, nested={"list": [f"x {SECRET} y"]})
    log.warning("bearer_other", detail="Authorization: bearer some.jwt.value-123")
    log.error("store_error", error=f"could not reach postgresql://app:{URL_PASSWORD}@db:5432/x")
    log.info("auth_header", authorization="Basic dXNlcjpwYXNz")
    logging.getLogger("uvicorn.error").warning("proxy said redis://:%s@cache:6379", URL_PASSWORD)
    out = stream.getvalue()
    assert SECRET not in out
    assert URL_PASSWORD not in out
    assert "some.jwt.value-123" not in out
    assert "dXNlcjpwYXNz" not in out
    assert out.count(REDACTED) >= 6
    assert "postgresql://[redacted]@db:5432/x" in out


def test_redactor_keeps_ordinary_values() -> None:
    process = redactor([SECRET])
    event: dict[str, Any] = {
        "event": "plan_applied",
        "run_id": "r-1",
        "worlds": 3,
        "ratio": 0.5,
        "ok": True,
        "topics": ["a", "b"],
        "url": "http://127.0.0.1:8000/worldservice",
    }
    assert process(None, "info", dict(event)) == event


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_key_secrets_and_the_websocket_token_are_redacted(
    log_into: Callable[[str], io.StringIO], log_format: str
) -> None:
    # Secrets of scoped keys are never known to the server (only their SHA-256), so they
    # are recognised by their shape; the console's WebSocket token travels base64url-encoded
    # in a subprotocol, where neither the literal nor the Bearer rule would see it.
    key_secret = "wgk_Qm9ndXMtc2VjcmV0LWZvci10ZXN0aW5nLTEyMzQ1"
    encoded = base64.urlsafe_b64encode(key_secret.encode()).decode().rstrip("=")
    stream = log_into(log_format)
    log = structlog.get_logger("tests.secrets")
    log.warning("key_seen", detail=f"client sent {key_secret} in a query")
    log.warning("handshake", protocols=f"worldgate.events, worldgate.bearer.{encoded}")
    log.warning("handshake_list", protocols=["worldgate.events", f"worldgate.bearer.{encoded}"])
    # A standard-library logger (as uvicorn's are); its level is set here because other
    # tests may have left the process's loggers at other levels.
    stdlib = logging.getLogger("tests.secrets.stdlib")
    stdlib.setLevel(logging.INFO)
    stdlib.warning("offered %s", f"worldgate.bearer.{encoded}")
    out = stream.getvalue()
    assert key_secret not in out and key_secret[4:] not in out
    assert encoded not in out
    assert "worldgate.bearer.[redacted]" in out
    assert out.count(REDACTED) >= 4


def test_a_scoped_key_is_not_logged_by_a_failing_request(
    log_into: Callable[[str], io.StringIO], make_settings: Callable[..., Settings]
) -> None:
    stream = log_into("json")
    settings = make_settings(root_settings())
    container = build_container(settings)
    container.planning.override(providers.Object(ExplodingPlanning(settings)))
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        _, secret = make_key(client, "planner", ["plan"])
        body = plan_body(BODY_MARKER)
        response = client.post("/rebalancing/plan", json=body, headers=auth(secret))
        assert response.status_code == 500
        refused = client.post("/rebalancing/apply", json=body, headers=auth(secret))
        assert refused.status_code == 403
    out = stream.getvalue()
    assert "unhandled_error" in out and "auth_rejected" in out
    assert secret not in out and ROOT_SECRET not in out
    assert BODY_MARKER not in out
