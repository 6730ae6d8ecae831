"""The generated reference lists the whole public surface, and the built site stays offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import click

import app.sdk
from app.cli import cli

# What the user documentation may not cite (as tests/architecture checks for the sources).
FORBIDDEN = re.compile(r"SPEC\s*§|§\s*\d|\bseed'?s?\b|\bissue\s*#?\d+", re.I)


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page.read_text()))


def _commands(group: click.Group, prefix: str) -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append(path)
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


def test_sdk_reference_lists_every_public_name(built_site: Path) -> None:
    ids = _ids(built_site / "reference" / "sdk" / "index.html")
    missing = [name for name in app.sdk.__all__ if f"app.sdk.{name}" not in ids]
    assert not missing, f"not in the SDK reference: {missing}"
    # Only the public surface: nothing outside __all__ at the top level.
    top = {i.removeprefix("app.sdk.") for i in ids if re.fullmatch(r"app\.sdk\.\w+", i)}
    assert top == set(app.sdk.__all__)


def test_sdk_reference_shows_methods_with_types(built_site: Path) -> None:
    page = (built_site / "reference" / "sdk" / "index.html").read_text()
    ids = _ids(built_site / "reference" / "sdk" / "index.html")
    for member in ("GatewayClient.plan", "GatewayClient.submit_preview", "GatewayClient.halt",
                   "Runner.plan", "EventStream.next_event", "AsyncGatewayClient.execute"):
        assert f"app.sdk.{member}" in ids, member
    assert "RequestLike" in page and "PlanResponse" in page  # annotations are rendered


def test_cli_reference_lists_every_command(built_site: Path) -> None:
    page = built_site / "reference" / "cli" / "index.html"
    ids = _ids(page)
    commands = _commands(cli, "worldgate")
    missing = [c for c in commands if c.replace(" ", "-") not in ids]
    assert not missing, f"not in the CLI reference: {missing}"
    assert len(commands) >= 20
    text = page.read_text()
    assert "Sentinel" not in text and "UNSET" not in text


def test_contracts_reference_lists_the_wire_types(built_site: Path) -> None:
    ids = _ids(built_site / "reference" / "contracts" / "index.html")
    for name in ("rebalancing.RebalanceRequest", "rebalancing.PlanV1", "rebalancing.PlanV3",
                 "policy.RebalancePolicy", "orders.ExecuteResponse", "risk.TradingState",
                 "events.CloudEvent"):
        assert f"app.contracts.{name}" in ids, name


def test_generated_pages_cite_nothing_a_user_cannot_follow(built_site: Path) -> None:
    for page in (built_site / "reference").rglob("*.html"):
        text = re.sub(r"<[^>]+>", " ", page.read_text())
        assert not FORBIDDEN.search(text), (page, FORBIDDEN.search(text))


class _Assets(HTMLParser):
    """The URLs a page loads by itself: scripts, stylesheets, images, frames, media."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
             "audio": "src", "embed": "src", "object": "data"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self.LOADS and values.get(self.LOADS[tag]):
            self.urls.append(values[self.LOADS[tag]] or "")
        rel = (values.get("rel") or "").split()
        if tag == "link" and {"stylesheet", "preload", "icon", "modulepreload"} & set(rel):
            self.urls.append(values.get("href") or "")


def test_built_site_loads_nothing_from_another_host(built_site: Path) -> None:
    remote = re.compile(r"^(https?:)?//", re.I)
    found = []
    for page in built_site.rglob("*.html"):
        parser = _Assets()
        parser.feed(page.read_text())
        found += [f"{page.relative_to(built_site)}: {u}" for u in parser.urls if remote.match(u)]
    for sheet in built_site.rglob("*.css"):
        text = sheet.read_text()
        found += [f"{sheet.name}: {u}" for u in re.findall(r"@import\s+url\(([^)]+)\)", text)]
        found += [f"{sheet.name}: {u}"
                  for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", text)]
    assert not found, "\n".join(found)
