"""The documentation's diagrams, drawn as SVG by code so they share one style and cannot drift.

``python -m scripts.diagrams`` writes them to ``docs/img/diagrams/``; ``--check`` exits 1
when a committed file differs from what the code draws (a test runs the same check).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scripts.diagrams import figures_model, figures_system
from scripts.diagrams.svg import Drawing

__all__ = ["DIAGRAMS", "OUT", "render_all"]

OUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "diagrams"

DIAGRAMS: dict[str, Callable[[], Drawing]] = {
    "lifecycle": figures_model.lifecycle,
    "book": figures_model.book,
    "allocations": figures_model.allocations,
    "modes": figures_model.modes,
    "netting": figures_model.netting,
    "lots": figures_model.lots,
    "versions": figures_system.versions,
    "negotiation": figures_system.negotiation,
    "event-flow": figures_system.event_flow,
    "risk-states": figures_system.risk_states,
    "two-phase": figures_system.two_phase,
    "keys": figures_system.keys,
}


def render_all() -> dict[str, str]:
    """Every diagram's SVG text by file name (``book.svg``, ...)."""
    return {f"{name}.svg": draw().render() for name, draw in DIAGRAMS.items()}
