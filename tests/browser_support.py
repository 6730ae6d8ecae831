"""Headless Chromium for tests: one browser per session; pages fail on errors and on egress.

A pytest plugin (``tests/conftest.py`` loads it), so any test module can ask for:

- ``chromium`` (session scope): a Playwright ``Browser`` on Debian's ``/usr/bin/chromium``,
  launched once per test session (per xdist worker) with the flags below. Playwright never
  downloads a browser here.
- ``browser_page`` (test scope): a ``BrowserPage``, a fresh context and page. The test
  fails at teardown if the page logged a console error, threw an uncaught exception, or
  tried to reach any host that is not loopback (``127.0.0.0/8``, ``::1``, ``localhost``);
  such requests and WebSockets are blocked, not sent. ``shot(name)`` saves
  ``var/screenshots/<name>.png`` for a person to look at.

Every test that uses these fixtures is marked ``browser``. Browser tests run in a pytest
process of their own (``pytest -m browser``; ``make unit`` runs the two kinds one after the
other): Playwright's sync API keeps its asyncio loop marked as running in its thread, which
other tests' event loops cannot share. A run that selects both kinds skips the browser
tests and says how to run them. Without Chromium or Playwright the tests skip, saying how
to enable them; with ``WORLDGATE_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) they fail
instead.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocketRoute

__all__ = ["CHROMIUM", "LAUNCH_FLAGS", "SCREENSHOTS", "BrowserPage", "is_local_url"]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
REQUIRE_ENV = "WORLDGATE_TEST_REQUIRE_SERVICES"
_FIXTURES = frozenset({"chromium", "browser_page"})
_LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})


def is_local_url(url: str) -> bool:
    """True for URLs that stay on this machine: loopback hosts and file/data/blob/about."""
    parts = urlsplit(url)
    if parts.scheme in _LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BrowserPage:
    """A page whose problems fail the test: console errors, page errors, non-local requests.

    Attributes:
        page: the Playwright ``Page``.
        console_errors: ``console.error`` messages (failed loads included).
        page_errors: uncaught exceptions.
        blocked: URLs of requests and WebSockets to non-loopback hosts (aborted).
    """

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []
        context.route("**/*", self._route)
        context.route_web_socket("**/*", self._route_socket)
        self.page: Page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _route(self, route: Route) -> None:
        if is_local_url(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def _route_socket(self, ws: WebSocketRoute) -> None:
        if is_local_url(ws.url):
            ws.connect_to_server()
        else:
            self.blocked.append(ws.url)
            ws.close(code=1008, reason="non-loopback host blocked by the test harness")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def goto(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self.page.goto(url, wait_until="load")

    def open_file(self, path: Path) -> None:
        """Open a local file (``file://``)."""
        self.goto(path.resolve().as_uri())

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG screenshot as ``var/screenshots/<name>.png`` and return its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def problems(self) -> list[str]:
        """Everything that fails the test, one line each."""
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"request to a non-loopback host: {u}" for u in self.blocked])

    def forget(self) -> None:
        """Clear what was recorded (for tests that provoke errors on purpose)."""
        self.console_errors.clear()
        self.page_errors.clear()
        self.blocked.clear()


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false")


def _unavailable(message: str) -> None:
    if _required():
        pytest.fail(f"{message}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def _uses_browser(item: pytest.Item) -> bool:
    return bool(_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark browser tests (before ``-m`` selects by marker)."""
    for item in items:
        if _uses_browser(item):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """When other tests are selected too, skip the browser ones (they need a process)."""
    items = session.items
    browser = [item for item in items if _uses_browser(item)]
    if browser and len(browser) < len(items):
        reason = ("browser tests run in a pytest process of their own: `pytest -m browser` "
                  "(`make unit` runs both kinds)")
        for item in browser:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless, shared by the session's tests."""
    if not CHROMIUM.exists():
        _unavailable(f"needs Debian's chromium at {CHROMIUM}: apt-get install -y "
                     "--no-install-recommends chromium (`.ci/run` installs it and makes "
                     "these tests mandatory)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs Playwright for Python: pip install -e '.[dev]'")
    with sync_playwright() as manager:
        browser = manager.chromium.launch(executable_path=str(CHROMIUM), args=list(LAUNCH_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[BrowserPage]:
    """A fresh page (1280 × 900, its own context); its problems fail the test at teardown."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = BrowserPage(context)
    try:
        yield page
    finally:
        problems = page.problems()
        context.close()
    if problems:
        pytest.fail("the page had problems:\n" + "\n".join(problems), pytrace=False)
