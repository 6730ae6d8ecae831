"""Every English page has an up-to-date Korean page with the same headings and code blocks."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from scripts import docs_i18n

ENGLISH = """# Executing

Prose about orders.

## Dry runs

```bash
worldgate execute --dry-run
```

::: app.sdk.Client
"""

KOREAN = """# 실행 {#executing}

주문에 관한 설명.

## 드라이 런 {#dry-runs}

```bash
worldgate execute --dry-run
```

::: app.sdk.Client
"""


def test_the_repository_translations_are_complete_and_current() -> None:
    problems = docs_i18n.check()
    assert not problems, "\n".join(map(str, problems))


def test_every_page_of_the_nav_is_checked() -> None:
    pages = {p.relative_to(docs_i18n.DOCS).as_posix() for p in docs_i18n.english_pages()}
    nav = (docs_i18n.ROOT / "mkdocs.yml").read_text()
    for page in pages:
        assert f": {page}" in nav, f"{page} is checked but is not in the nav"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    (tmp_path / "execute.md").write_text(ENGLISH, encoding="utf-8")
    korean = tmp_path / "execute.ko.md"
    korean.write_text(KOREAN, encoding="utf-8")
    docs_i18n.stamp(korean, tmp_path)
    return tmp_path


def test_a_stamped_translation_is_in_step(docs: Path) -> None:
    assert docs_i18n.check(docs) == []
    first = (docs / "execute.ko.md").read_text(encoding="utf-8").splitlines()[0]
    assert first == docs_i18n.stamp_line(docs / "execute.md", docs)


def test_stamping_twice_keeps_one_stamp(docs: Path) -> None:
    docs_i18n.stamp(docs / "execute.ko.md", docs)
    text = (docs / "execute.ko.md").read_text(encoding="utf-8")
    assert text.count("<!-- i18n:") == 1
    assert text.endswith(KOREAN)


def test_a_missing_translation_fails(docs: Path) -> None:
    (docs / "planning.md").write_text("# Planning\n", encoding="utf-8")
    assert [str(p) for p in docs_i18n.check(docs)] == [
        "planning.md: no Korean page: translate it into planning.ko.md"]


def test_a_translation_without_its_english_page_fails(docs: Path) -> None:
    (docs / "gone.ko.md").write_text("# 없음\n", encoding="utf-8")
    assert [p.page for p in docs_i18n.check(docs)] == ["gone.ko.md"]


def test_a_changed_english_page_makes_its_translation_stale(docs: Path) -> None:
    (docs / "execute.md").write_text(ENGLISH.replace("orders", "fills"), encoding="utf-8")
    problems = docs_i18n.check(docs)
    assert len(problems) == 1 and "is stale" in problems[0].message
    docs_i18n.stamp(docs / "execute.ko.md", docs)
    assert docs_i18n.check(docs) == []


def test_a_translation_without_a_stamp_fails(docs: Path) -> None:
    (docs / "execute.ko.md").write_text(KOREAN, encoding="utf-8")
    problems = docs_i18n.check(docs)
    assert len(problems) == 1 and "does not open with its stamp" in problems[0].message


HEADINGS, LITERALS = "headings differ", "code blocks or directives differ"


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("## 드라이 런 {#dry-runs}", "## 드라이 런", HEADINGS),            # the English anchor dropped
    ("## 드라이 런 {#dry-runs}", "### 드라이 런 {#dry-runs}", HEADINGS),  # another level
    ("주문에 관한 설명.", "주문에 관한 설명.\n\n## 추가 {#extra}", HEADINGS),  # a heading added
    ("worldgate execute --dry-run", "worldgate execute", LITERALS),   # a command changed
    ("::: app.sdk.Client", "", LITERALS),                               # a directive dropped
    ("주문에 관한 설명.", "주문에 관한 설명.\n\n```text\nextra\n```", LITERALS),  # a block added
])
def test_headings_code_blocks_and_directives_must_match(docs: Path, old: str, new: str,
                                                        problem: str) -> None:
    korean = docs / "execute.ko.md"
    korean.write_text(korean.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    problems = docs_i18n.check(docs)
    assert len(problems) == 1 and problems[0].message.startswith(problem)


def test_headings_inside_code_blocks_are_not_headings() -> None:
    text = "# Title\n\n```bash\n# a comment, not a heading\n```\n"
    assert docs_i18n.headings(text) == [(1, "title")]


def test_indented_code_blocks_are_compared() -> None:
    english = "# Title\n\nRun:\n\n    worldgate serve\n"
    assert docs_i18n.literal_blocks(english) == ["worldgate serve\n"]
    assert docs_i18n.literal_blocks(english.replace("serve", "health")) != ["worldgate serve\n"]


def test_code_blocks_inside_admonitions_and_lists_are_compared() -> None:
    text = ("# T\n\n!!! note\n\n    ```bash\n    make run\n    ```\n\n"
            "- item\n\n    ```text\n    x\n    ```\n")
    assert docs_i18n.literal_blocks(text) == ["make run\n", "x\n"]


def _site_path(page: str) -> str:
    """Where the site puts a page (``reference/sdk.md`` → ``reference/sdk/``)."""
    stem = page.removesuffix(".md")
    return "" if stem == "index" else stem + "/"


def _switch(html: str, page: str, lang: str) -> str:
    """The path the language switcher of a built page leads to for ``lang``."""
    found = re.search(rf'<a href="([^"]*)" hreflang="{lang}" class="md-select__link">', html)
    assert found, f"/{page}: no language switcher entry for {lang}"
    return urljoin(f"http://site/{page}", found[1]).removeprefix("http://site")


def test_every_page_is_built_in_both_languages_with_a_switcher(built_site: Path) -> None:
    for english in docs_i18n.english_pages():
        path = _site_path(english.relative_to(docs_i18n.DOCS).as_posix())
        en = (built_site / path / "index.html").read_text(encoding="utf-8")
        ko = (built_site / "ko" / path / "index.html").read_text(encoding="utf-8")
        assert '<html lang="en"' in en and '<html lang="ko"' in ko, path
        assert _switch(en, path, "ko") == f"/ko/{path}"
        assert _switch(ko, f"ko/{path}", "en") == f"/{path}"
