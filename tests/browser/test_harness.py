"""The browser harness itself: loopback passes, anything else is blocked and reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser_support import BrowserPage, is_local_url


@pytest.mark.parametrize(
    ("url", "local"),
    [("http://127.0.0.1:8000/x", True), ("http://127.9.9.9/", True), ("ws://[::1]:80/events", True),
     ("http://localhost:1/", True), ("file:///tmp/r.html", True), ("data:text/plain,x", True),
     ("https://example.com/x.png", False), ("http://10.0.0.1/", False),
     ("http://192.168.1.1/", False), ("wss://cdn.example.org/ws", False)],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_loopback_passes_and_other_hosts_are_blocked(
    browser_page: BrowserPage, live_server: Callable[..., str]
) -> None:
    url = live_server()
    browser_page.goto(f"{url}/health")
    assert '"status"' in browser_page.page.content()
    assert browser_page.problems() == []
    outcome = browser_page.page.evaluate(
        "fetch('https://example.com/data.json').then(() => 'sent', () => 'refused')")
    assert outcome == "refused"
    assert browser_page.blocked == ["https://example.com/data.json"]
    browser_page.forget()


def test_sockets_to_loopback_connect_and_others_are_blocked(
    browser_page: BrowserPage, live_server: Callable[..., str]
) -> None:
    url = live_server()
    browser_page.goto(f"{url}/health")
    ws_url = url.replace("http://", "ws://") + "/events"
    opened = browser_page.page.evaluate(
        """(u) => new Promise(ok => { const ws = new WebSocket(u);
            ws.onopen = () => { ws.close(); ok('open'); }; ws.onerror = () => ok('error'); })""",
        ws_url)
    assert opened == "open"
    assert browser_page.problems() == []
    browser_page.page.evaluate(
        """() => new Promise(ok => { const ws = new WebSocket('wss://feed.example.com/ws');
            ws.onclose = () => ok('closed'); ws.onerror = () => ok('error'); })""")
    assert browser_page.blocked == ["wss://feed.example.com/ws"]
    browser_page.forget()


def test_console_and_page_errors_are_recorded(browser_page: BrowserPage, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><title>x</title><script>console.error('boom');"
                    "setTimeout(() => { throw new Error('kaput'); });</script>"
                    '<img src="https://example.com/pixel.png">')
    browser_page.open_file(page)
    browser_page.page.wait_for_timeout(50)
    problems = browser_page.problems()
    assert "console error: boom" in problems
    assert any("kaput" in p for p in problems)
    assert "request to a non-loopback host: https://example.com/pixel.png" in problems
    browser_page.forget()
