"""The operator console in Chromium against a real server: pages, live events, risk, preview.

Every page must load without a console error and without a request off this machine (the
harness fails the test otherwise). Screenshots land in ``var/screenshots/console-*.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import expect

from app.sdk.client import GatewayClient
from tests.browser.test_report_pages import CHART_PROBE
from tests.browser_support import BrowserPage
from tests.sdk.conftest import EXAMPLES, V2_OVERRIDES, apply_plan_history

QUIET = {"server": {"log_level": "error"}}
TOKEN = "console-drill-token"
PAGES = ["", "events", "plans", "preview", "risk", "reports"]


def _loaded(page: BrowserPage) -> None:
    """Wait until no panel still says Loading… (htmx fragments arrived)."""
    expect(page.page.get_by_text("Loading…")).to_have_count(0, timeout=10_000)


def test_every_page_loads_offline(browser_page: BrowserPage,
                                  live_server: Callable[..., str]) -> None:
    url = live_server({**V2_OVERRIDES, **QUIET})
    apply_plan_history(url, 4)
    for name in PAGES:
        browser_page.goto(f"{url}/console/{name}")
        _loaded(browser_page)
        assert "Worldgate" in browser_page.page.inner_text("header.topbar")
        assert not browser_page.page.locator(".alert.bad").count(), name
        browser_page.shot(f"console-{name or 'overview'}")
    # The plans page lists the applied plans and opens one.
    browser_page.goto(f"{url}/console/plans")
    _loaded(browser_page)
    browser_page.page.locator("details.plan summary", has_text="hist-3").click()
    expect(browser_page.page.locator("details.plan[open] .world")).to_have_count(2)
    browser_page.shot("console-plans-open")
    # The reports page draws the tear sheet of one world from its stored plans.
    browser_page.goto(f"{url}/console/reports")
    page = browser_page.page
    page.fill("input[name=world_id]", "crypto-momo")
    page.click("text=Show")
    expect(page.locator("#report h1")).to_have_text("Tear sheet — crypto-momo")
    charts = page.evaluate(CHART_PROBE)
    assert len(charts) == 6 and all(c["legend"] == 1 and c["drawn"] > 0 for c in charts)


def test_apply_appears_on_the_live_events_page(browser_page: BrowserPage,
                                               live_server: Callable[..., str]) -> None:
    url = live_server({**V2_OVERRIDES, **QUIET})
    page = browser_page.page
    browser_page.goto(f"{url}/console/events")
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "live")
    body = (EXAMPLES / "plan_request.json").read_bytes()
    with GatewayClient(url) as client:
        client.apply_raw(__import__("json").loads(body), run_id="live-apply-1")
    applied = time.monotonic()
    row = page.locator("#events li", has_text="live-apply-1")
    expect(row.first).to_be_visible(timeout=1_000)
    assert time.monotonic() - applied < 1.5
    assert row.count() == 2  # one rebalancing_planned event per world
    # Pause holds new events back, Clear empties the list.
    page.click("#pause")
    with GatewayClient(url) as client:
        client.apply_raw(__import__("json").loads(body), run_id="live-apply-2")
    expect(page.locator("#pause")).to_have_text("Resume (2 new)", timeout=2_000)
    browser_page.shot("console-events")
    page.click("#pause")
    expect(page.locator("#events li", has_text="live-apply-2")).to_have_count(2)
    page.click("#clear")
    expect(page.locator("#events li")).to_have_count(0)


def test_halt_a_world_from_the_risk_page(browser_page: BrowserPage,
                                         live_server: Callable[..., str]) -> None:
    url = live_server({**QUIET, "security": {"api_tokens": [TOKEN]}})
    page = browser_page.page
    browser_page.goto(f"{url}/console/risk")
    _loaded(browser_page)
    form = page.locator("form.inline.change")
    form.locator("input[name=world_id]").fill("w-drill")
    form.locator("input[name=reason]").fill("halt drill")
    form.locator("button[value=HALTED]").click()
    expect(page.locator("#confirm-text")).to_contain_text("Halt world w-drill")
    page.click("#confirm-ok")
    # Without a token the API refuses, and the console says so.
    expect(page.locator("#risk-states .alert.bad")).to_contain_text("401")
    page.click("#token-button")
    page.fill("#token-input", TOKEN)
    page.click("#token-dialog button[value=save]")
    expect(page.locator("#token-button")).to_have_text("Token: set")
    form.locator("button[value=HALTED]").click()
    page.click("#confirm-ok")
    # Generous: the change is an audited, fsynced write behind two HTTP hops, and this
    # shared machine is often busy.
    expect(page.locator("#risk-states .alert.ok")).to_contain_text("is now HALTED",
                                                                  timeout=20_000)
    with GatewayClient(url, token=TOKEN) as client:
        state = client.world_state("w-drill")
        audited = client.audit_page(route="/risk/worlds/{world_id}").entries
    assert state.state == "HALTED" and state.reason == "halt drill"
    assert state.actor and state.actor.startswith("token:")  # the key the console forwarded
    assert [(e.status, e.reason) for e in audited] == [(401, "missing"), (200, "halt drill")]
    browser_page.shot("console-risk")
    # The refused attempt was a real 401 from the API: the test provoked it on purpose.
    browser_page.forget()


def test_plan_preview_renders_table_and_chart(browser_page: BrowserPage,
                                              live_server: Callable[..., str]) -> None:
    url = live_server({**V2_OVERRIDES, **QUIET})
    page = browser_page.page
    browser_page.goto(f"{url}/console/preview")
    page.click("text=Preview plan")
    chart = page.locator("svg.chart[data-chart=weights]")
    expect(chart).to_be_visible()
    probe = {c["name"]: c for c in page.evaluate(CHART_PROBE)}["weights"]
    assert probe["x"] == 2 and probe["y"] >= 3 and probe["domains"] == 2
    assert probe["legend"] == 3 and probe["drawn"] >= 4 and not probe["overlap"]
    worlds = page.locator("#preview-result .world h3")
    expect(worlds).to_have_count(2)
    rows = page.locator("#preview-result .world tbody tr")
    assert rows.count() >= 3
    assert "BTCUSDT" in page.inner_text("#preview-result .worlds")
    page.click("text=Preview execution")
    expect(page.locator("#action-result h2")).to_have_text("Execution preview")
    assert "previewed" in page.inner_text("#action-result dl.facts")
    browser_page.shot("console-preview")
    # Apply stores it: it is then listed with its run_id.
    page.fill("input[name=run_id]", "from-console")
    page.click("text=Apply…")
    page.click("#confirm-ok")
    expect(page.locator("#action-result .alert.ok")).to_contain_text("Applied")
    with GatewayClient(url) as client:
        assert client.applied_plans()[0].run_id == "from-console"


def test_swagger_and_other_api_pages_render_offline(browser_page: BrowserPage,
                                                     live_server: Callable[..., str]) -> None:
    url = live_server(QUIET)
    page = browser_page.page
    browser_page.goto(f"{url}/schema/swagger")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=10_000)
    assert operations.count() >= 20
    assert page.locator(".opblock .authorization__btn").count() >= 6  # bearer locks
    browser_page.shot("schema-swagger", full_page=False)
    browser_page.goto(f"{url}/schema/redoc")
    expect(page.locator("h1", has_text="Worldgate")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("Set the global trading state").first).to_be_attached()
    browser_page.goto(f"{url}/schema/elements")
    expect(page.get_by_text("Live Server:").first).to_be_visible(timeout=10_000)
    browser_page.shot("schema-elements", full_page=False)
