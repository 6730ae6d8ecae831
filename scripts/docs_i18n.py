"""Keep the Korean documentation in step with the English pages it translates.

Every English page ``docs/foo.md`` has a Korean page ``docs/foo.ko.md`` beside it (the suffix
layout of mkdocs-static-i18n). The Korean page opens with a stamp naming the English page and
the SHA-256 of the English text it translates::

    <!-- i18n: ko translates foo.md sha256=<64 hex digits> -->

``python -m scripts.docs_i18n --check`` (run by ``make test``) fails when

* an English page has no Korean page, or a Korean page has no English page;
* a stamp is missing, names another page, or holds a hash that is not the English page's
  current one (the English page changed since it was translated: the translation is stale);
* the two pages' headings differ in number, level or anchor (Korean headings carry the English
  anchors as ``{#anchor}``, so a link ``page.md#anchor`` works in both languages);
* their code blocks, or their directives (``::: module`` of mkdocstrings and mkdocs-click,
  ``--8<--`` snippets), are not the same text in the same order.

``python -m scripts.docs_i18n --stamp docs/foo.ko.md`` writes the current hash into a Korean
page once its translation has been brought up to date.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import markdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LANG = "ko"
# Folders of docs/ that hold no pages of the site (mkdocs.yml's exclude_docs).
NOT_PAGES = ("examples", "tutorial")
STAMP = re.compile(r"<!-- i18n: ko translates (?P<page>\S+) sha256=(?P<hash>[0-9a-f]{64}) -->")
# A code block as Python-Markdown renders it (highlighted: the text is split into spans).
CODE_BLOCK = re.compile(r"<pre[^>]*>(?:<span></span>)?<code[^>]*>(.*?)</code></pre>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
DIRECTIVE = re.compile(r"^\s*(:::|--8<--)")
_MARKDOWN_EXTENSIONS = ["toc", "attr_list", "md_in_html", "admonition", "tables",
                        "pymdownx.superfences", "pymdownx.details"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One way a Korean page is out of step with its English page."""

    page: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}: {self.message}"


def english_pages(docs: Path = DOCS) -> list[Path]:
    """The English pages of the site, in path order."""
    return sorted(p for p in docs.rglob("*.md")
                  if not p.name.endswith(f".{LANG}.md")
                  and p.relative_to(docs).parts[0] not in NOT_PAGES)


def korean_page(english: Path) -> Path:
    """Where the Korean translation of an English page lives."""
    return english.with_name(f"{english.stem}.{LANG}.md")


def digest(english: Path) -> str:
    """The hash a Korean page records of the English page it translates."""
    return hashlib.sha256(english.read_bytes()).hexdigest()


def stamp_line(english: Path, docs: Path = DOCS) -> str:
    """The first line of an up-to-date Korean page of ``english``."""
    return (f"<!-- i18n: {LANG} translates {english.relative_to(docs).as_posix()} "
            f"sha256={digest(english)} -->")


def headings(text: str) -> list[tuple[int, str]]:
    """The (level, anchor) of every heading, as the site's Markdown renders them."""
    return _render(text)[0]


def literal_blocks(text: str) -> list[str]:
    """Code blocks (fenced or indented, anywhere in the page) and directive lines, in order."""
    codes = [html.unescape(TAG.sub("", code)) for code in CODE_BLOCK.findall(_render(text)[1])]
    return codes + [line.strip() for line in text.splitlines() if DIRECTIVE.match(line)]


def _render(text: str) -> tuple[list[tuple[int, str]], str]:
    md = markdown.Markdown(extensions=_MARKDOWN_EXTENSIONS)
    rendered = md.convert(text)
    return list(_walk(md.toc_tokens)), rendered


def _walk(tokens: Iterable[dict[str, object]]) -> Iterator[tuple[int, str]]:
    for token in tokens:
        yield int(str(token["level"])), str(token["id"])
        yield from _walk(token["children"])  # type: ignore[arg-type]


def check_page(english: Path, docs: Path = DOCS) -> list[Problem]:
    """What is out of step between an English page and its Korean page."""
    name = english.relative_to(docs).as_posix()
    korean = korean_page(english)
    if not korean.exists():
        return [Problem(name, f"no Korean page: translate it into {korean.name}")]
    ko_text = korean.read_text(encoding="utf-8")
    en_text = english.read_text(encoding="utf-8")
    problems: list[Problem] = []
    first = ko_text.split("\n", 1)[0]
    stamp = STAMP.fullmatch(first.strip())
    if stamp is None:
        problems.append(Problem(name, f"{korean.name} does not open with its stamp "
                                      f"(python -m scripts.docs_i18n --stamp ...)"))
    elif stamp["page"] != name:
        problems.append(Problem(name, f"{korean.name}'s stamp names {stamp['page']}"))
    elif stamp["hash"] != digest(english):
        problems.append(Problem(name, f"{korean.name} is stale: {name} changed since it was "
                                      f"translated; update it, then --stamp it"))
    en_heads, ko_heads = headings(en_text), headings(ko_text)
    if en_heads != ko_heads:
        problems.append(Problem(name, "headings differ (level, anchor): "
                                      + _first_difference(en_heads, ko_heads)))
    en_blocks, ko_blocks = literal_blocks(en_text), literal_blocks(ko_text)
    if en_blocks != ko_blocks:
        problems.append(Problem(name, f"code blocks or directives differ: {len(en_blocks)} in "
                                      f"English, {len(ko_blocks)} in Korean; first: "
                                      + _first_difference(en_blocks, ko_blocks)))
    return problems


def _first_difference(english: Sequence[object], korean: Sequence[object]) -> str:
    for index in range(max(len(english), len(korean))):
        en = english[index] if index < len(english) else "(nothing)"
        ko = korean[index] if index < len(korean) else "(nothing)"
        if en != ko:
            return f"#{index + 1}: English {en!r} vs Korean {ko!r}"
    return "none"


def check(docs: Path = DOCS) -> list[Problem]:
    """Every problem of the site's translations (empty when they are all in step)."""
    pages = english_pages(docs)
    problems = [p for page in pages for p in check_page(page, docs)]
    expected = {korean_page(p) for p in pages}
    for orphan in sorted(set(docs.rglob(f"*.{LANG}.md")) - expected):
        problems.append(Problem(orphan.relative_to(docs).as_posix(),
                                "a Korean page without an English page"))
    return problems


def stamp(korean: Path, docs: Path = DOCS) -> None:
    """Write the current hash of its English page into a Korean page's first line."""
    if not korean.name.endswith(f".{LANG}.md"):
        raise SystemExit(f"{korean} is not a Korean page (*.{LANG}.md)")
    english = korean.with_name(korean.name.removesuffix(f".{LANG}.md") + ".md")
    if not english.exists():
        raise SystemExit(f"{korean}: no English page {english.name}")
    text = korean.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    body = rest if first.startswith("<!-- i18n:") else text
    korean.write_text(f"{stamp_line(english, docs)}\n{body}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--check`` (the default) or ``--stamp PAGE.ko.md ...``."""
    parser = argparse.ArgumentParser(prog="python -m scripts.docs_i18n", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="check every page (default)")
    parser.add_argument("--stamp", nargs="+", type=Path, metavar="PAGE",
                        help="record the English page's current hash in these Korean pages")
    args = parser.parse_args(argv)
    for page in args.stamp or []:
        stamp(page.resolve())
        print(f"stamped {page}")
    if args.stamp and not args.check:
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    pages = len(english_pages())
    print(f"{pages - len({p.page for p in problems})} of {pages} pages in step"
          if problems else f"all {pages} pages have an up-to-date Korean translation")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
