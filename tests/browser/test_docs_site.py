"""The documentation site in Chromium: served on loopback, it loads nothing from elsewhere.

The site is built from the current sources (as ``make docs`` does) and served over HTTP on
127.0.0.1; ``browser_page`` fails a test whose page requests any other host or logs an
error. Screenshots go to ``var/screenshots/docs-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.diagrams import DIAGRAMS
from tests.browser_support import BrowserPage
from tests.docs.site import build_site, serve_site

PAGES = {
    "home": "/",
    "tutorial": "/tutorial/",
    "concepts": "/concepts/",
    "reference-sdk": "/reference/sdk/",
    "reference-cli": "/reference/cli/",
}

IMAGES = """() => Array.from(document.querySelectorAll('article img')).map(img => ({
  src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
  width: img.getBoundingClientRect().width}))"""

# In a diagram, every text of a box lies inside the box, and no two texts overlap.
TEXT_FIT = """() => {
  const inside = (r, b) => r.x >= b.x - 0.5 && r.y >= b.y - 0.5 &&
    r.x + r.width <= b.x + b.width + 0.5 && r.y + r.height <= b.y + b.height + 0.5;
  const problems = [];
  for (const g of document.querySelectorAll('g.box')) {
    const box = g.querySelector('rect').getBBox();
    for (const t of g.querySelectorAll('text'))
      if (!inside(t.getBBox(), box)) problems.push('outside its box: ' + t.textContent);
  }
  const texts = Array.from(document.querySelectorAll('text')).map(t => [t, t.getBBox()]);
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
    const [a, ra] = texts[i], [b, rb] = texts[j];
    if (ra.x < rb.x + rb.width - 1 && rb.x < ra.x + ra.width - 1 &&
        ra.y < rb.y + rb.height - 2 && rb.y < ra.y + ra.height - 2)
      problems.push('overlap: ' + a.textContent + ' / ' + b.textContent);
  }
  const svg = document.documentElement.getBBox();
  const view = document.documentElement.viewBox.baseVal;
  for (const [t, r] of texts)
    if (r.x < 0 || r.y < 0 || r.x + r.width > view.width || r.y + r.height > view.height)
      problems.push('outside the picture: ' + t.textContent);
  return {problems, width: svg.width};
}"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = build_site(tmp_path_factory.mktemp("docs-site") / "site")
    with serve_site(folder) as url:
        yield url


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_loads_offline(browser_page: BrowserPage, site_url: str, name: str) -> None:
    browser_page.goto(site_url + PAGES[name])
    page = browser_page.page
    assert page.locator("article h1").count() == 1
    images = page.evaluate(IMAGES)
    assert all(image["loaded"] and image["width"] > 100 for image in images), images
    # The theme's fonts are the system's: no web font is declared or loaded.
    family = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "Roboto" not in family.split(",")[0], family
    assert page.evaluate("() => document.fonts.size") == 0
    browser_page.shot(f"docs-{name}", full_page=False)


def test_concepts_show_every_diagram(browser_page: BrowserPage, site_url: str) -> None:
    browser_page.goto(site_url + "/concepts/")
    shown = {Path(image["src"]).stem for image in browser_page.page.evaluate(IMAGES)}
    assert set(DIAGRAMS) <= shown


def test_home_links_to_the_guide_and_the_reference(browser_page: BrowserPage,
                                                   site_url: str) -> None:
    browser_page.goto(site_url + "/")
    hrefs = browser_page.page.eval_on_selector_all(
        "article a", "links => links.map(a => a.getAttribute('href'))")
    for target in ("tutorial/", "concepts/", "reference/sdk/", "reference/cli/"):
        assert any(h and h.rstrip("/").endswith(target.rstrip("/")) for h in hrefs), target


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_text_fits(browser_page: BrowserPage, site_url: str, name: str) -> None:
    browser_page.goto(f"{site_url}/img/diagrams/{name}.svg")
    result = browser_page.page.evaluate(TEXT_FIT)
    assert not result["problems"], result["problems"]


SEARCH_RESULTS = """() => Array.from(document.querySelectorAll('.md-search-result__link'))
  .map(a => a.getAttribute('href'))"""


@pytest.mark.parametrize(("start", "query", "expected"), [
    ("/translations/", "parity check", "translations/#the-parity-check"),
    ("/ko/translations/", "일치 검사", "ko/translations/#the-parity-check"),
])
def test_search_finds_pages_in_both_languages(browser_page: BrowserPage, site_url: str,
                                              start: str, query: str, expected: str) -> None:
    browser_page.goto(site_url + start)
    page = browser_page.page
    page.fill(".md-search__input", query)
    page.wait_for_selector(".md-search-result__link", timeout=10_000)
    hrefs = page.evaluate(SEARCH_RESULTS)
    assert any(h.endswith(expected) for h in hrefs), hrefs


def test_language_switcher_goes_to_the_same_page(browser_page: BrowserPage,
                                                 site_url: str) -> None:
    page = browser_page.page
    for start, lang, other, target in (("/execute/", "en", "ko", "/ko/execute/"),
                                       ("/ko/execute/", "ko", "en", "/execute/")):
        browser_page.goto(site_url + start)
        assert page.evaluate("() => document.documentElement.lang") == lang
        switch = page.locator(f'a.md-select__link[hreflang="{other}"]')
        href = switch.evaluate("a => new URL(a.getAttribute('href'), location.href).pathname")
        assert href == target
        browser_page.goto(site_url + href)
        assert page.evaluate("() => document.documentElement.lang") == other
        assert page.locator("article h1").count() == 1
    browser_page.shot("docs-en-execute", full_page=False)
