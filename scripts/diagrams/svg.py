"""A small SVG toolkit for the documentation's diagrams: boxes, arrows and labels in one style.

The palette and the fonts are those of the tear sheet and the operator console (system
fonts only, so a diagram opens offline and looks like the pages around it). Text widths are
estimated with DejaVu Sans, the widest of the fonts the stack falls back to, and a box whose
text would not fit raises ``ValueError`` when the diagram is drawn.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "'DejaVu Sans', sans-serif")
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
INK = "#111827"
MUTED = "#6b7280"
LINE = "#e5e7eb"
ARROW = "#475569"

# Advance widths of the printable ASCII characters (32 … 126) in DejaVu Sans, per 100 px,
# regular and bold, measured in Chromium. Other characters count as a wide letter.
_REGULAR = (32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64, 64, 64,
            64, 64, 64, 64, 64, 34, 34, 84, 84, 84, 53, 100, 68, 69, 70, 77, 63, 58, 77, 75, 29,
            29, 66, 56, 86, 75, 79, 60, 79, 69, 63, 61, 73, 68, 99, 69, 61, 69, 39, 34, 39, 84,
            50, 50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58, 28, 97, 63, 61, 63, 63, 41, 52,
            39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84)
_BOLD = (35, 46, 52, 84, 70, 100, 87, 31, 46, 46, 52, 84, 38, 42, 38, 37, 70, 70, 70, 70, 70, 70,
         70, 70, 70, 70, 40, 40, 84, 84, 84, 58, 100, 77, 76, 73, 83, 68, 68, 82, 84, 37, 37, 77,
         64, 100, 84, 85, 73, 85, 77, 72, 68, 81, 77, 110, 77, 72, 73, 46, 37, 46, 84, 50, 50, 67,
         72, 59, 72, 68, 44, 72, 71, 34, 34, 67, 34, 104, 71, 69, 72, 72, 49, 60, 48, 71, 65, 92,
         65, 65, 58, 71, 37, 71, 84)
_NARROW = {"·": 32, "’": 32, "…": 100}


@dataclass(frozen=True)
class Tone:
    """The colours of one kind of box: outline, fill and the text on it."""

    stroke: str
    fill: str
    ink: str


TONES = {
    "blue": Tone("#2563eb", "#eff6ff", "#1e3a8a"),
    "slate": Tone("#94a3b8", "#f8fafc", "#0f172a"),
    "green": Tone("#16a34a", "#f0fdf4", "#14532d"),
    "amber": Tone("#d97706", "#fffbeb", "#78350f"),
    "red": Tone("#dc2626", "#fef2f2", "#7f1d1d"),
    "violet": Tone("#7c3aed", "#f5f3ff", "#4c1d95"),
    "dark": Tone("#0f172a", "#0f172a", "#ffffff"),
    "white": Tone("#d1d5db", "#ffffff", INK),
}


def text_width(text: str, size: float, *, bold: bool = False, mono: bool = False) -> float:
    """The width ``text`` takes at ``size`` px in DejaVu Sans (Mono), the widest fallback."""
    if mono:
        return 0.602 * size * len(text)
    table = _BOLD if bold else _REGULAR
    units = 0
    for char in text:
        code = ord(char)
        units += table[code - 32] if 32 <= code < 127 else _NARROW.get(char, 84)
    return units * size / 100


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class Box:
    """Where a box was drawn, with the points arrows attach to."""

    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h)

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class Drawing:
    """One diagram: a white card of ``width`` × ``height`` px that elements are added to."""

    def __init__(self, width: int, height: int, title: str, description: str) -> None:
        self.width = width
        self.height = height
        self.title = title
        self.description = description
        self._parts: list[str] = []

    # -- primitives ------------------------------------------------------------------------

    def text(self, x: float, y: float, text: str, *, size: float = 13, bold: bool = False,
             color: str = INK, anchor: str = "start", mono: bool = False,
             halo: bool = False) -> None:
        """A line of text whose baseline is at ``y``."""
        attrs = [f'x="{_n(x)}"', f'y="{_n(y)}"', f'font-size="{_n(size)}"', f'fill="{color}"']
        if bold:
            attrs.append('font-weight="650"')
        if anchor != "start":
            attrs.append(f'text-anchor="{anchor}"')
        if mono:
            attrs.append('font-family="' + MONO.replace("'", "&apos;") + '"')
        if halo:
            attrs.append('class="halo"')
        self._parts.append(f"<text {' '.join(attrs)}>{_esc(text)}</text>")

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str = "#ffffff",
             stroke: str | None = None, radius: float = 8, dashed: bool = False,
             width: float = 1.2, opacity: float | None = None) -> None:
        """A rectangle (no text)."""
        attrs = [f'x="{_n(x)}"', f'y="{_n(y)}"', f'width="{_n(w)}"', f'height="{_n(h)}"',
                 f'rx="{_n(radius)}"', f'fill="{fill}"']
        if stroke:
            attrs.append(f'stroke="{stroke}" stroke-width="{_n(width)}"')
        if dashed:
            attrs.append('stroke-dasharray="5 4"')
        if opacity is not None:
            attrs.append(f'fill-opacity="{opacity}"')
        self._parts.append(f"<rect {' '.join(attrs)}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: str = LINE,
             width: float = 1, dashed: bool = False) -> None:
        """A plain line."""
        dash = ' stroke-dasharray="4 4"' if dashed else ""
        self._parts.append(f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
                           f'stroke="{color}" stroke-width="{_n(width)}"{dash}/>')

    def circle(self, x: float, y: float, r: float, *, fill: str, stroke: str | None = None
               ) -> None:
        """A dot."""
        edge = f' stroke="{stroke}" stroke-width="1.2"' if stroke else ""
        self._parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}"{edge}/>')

    # -- composed elements -----------------------------------------------------------------

    def box(self, x: float, y: float, w: float, h: float, title: str,
            lines: Sequence[str] = (), *, tone: str = "slate", size: float = 13,
            line_size: float = 11.5, mono: bool = False, align: str = "middle",
            dashed: bool = False) -> Box:
        """A rounded box with a bold title and optional smaller lines, centred vertically.

        Raises:
            ValueError: when a line would not fit the box in DejaVu Sans.
        """
        colors = TONES[tone]
        pad = 10
        for text, text_size, bold, is_mono in [(title, size, True, False),
                                               *[(t, line_size, False, mono) for t in lines]]:
            if text and text_width(text, text_size, bold=bold, mono=is_mono) > w - 2 * pad:
                raise ValueError(f"{text!r} does not fit a box {w} px wide")
        rows = 1 + len(lines)
        line_height = line_size * 1.45
        block = size + (rows - 1) * line_height
        if block > h - 8:
            raise ValueError(f"{title!r}: {rows} lines do not fit a box {h} px high")
        self._parts.append('<g class="box">')
        self.rect(x, y, w, h, fill=colors.fill, stroke=colors.stroke, dashed=dashed)
        tx = {"start": x + pad, "middle": x + w / 2}[align]
        baseline = y + (h - block) / 2 + size * 0.8
        self.text(tx, baseline, title, size=size, bold=True, color=colors.ink, anchor=align)
        sub = MUTED if tone not in ("dark",) else "#cbd5e1"
        for i, text in enumerate(lines):
            if not text:  # an empty line is a gap
                continue
            self.text(tx, baseline + line_height * (i + 1) + (line_size - size) * 0.2, text,
                      size=line_size, color=sub, anchor=align, mono=mono)
        self._parts.append("</g>")
        return Box(x, y, w, h)

    def panel(self, x: float, y: float, w: float, h: float, title: str, *,
              tone: str = "blue", note: str | None = None, dashed: bool = False) -> Box:
        """A container: a light rounded area with its title at the top left (and a note at
        the top right)."""
        colors = TONES[tone]
        self.rect(x, y, w, h, fill=colors.fill, stroke=colors.stroke, dashed=dashed,
                  radius=10)
        self.text(x + 12, y + 20, title, size=13, bold=True, color=colors.ink)
        if note:
            used = text_width(title, 13, bold=True) + text_width(note, 11.5) + 36
            if used > w:
                raise ValueError(f"{title!r} and {note!r} do not fit a panel {w} px wide")
            self.text(x + w - 12, y + 20, note, size=11.5, color=MUTED, anchor="end")
        return Box(x, y, w, h)

    def flow(self, x: float, y: float, width: float, h: float,
             steps: Sequence[tuple[str, Sequence[str], str]], *, gap: float = 22,
             size: float = 13, line_size: float = 11.5) -> list[Box]:
        """A row of boxes joined by arrows, filling ``width``: each box as wide as its text
        plus an equal share of the room left over."""
        needs = [max([text_width(title, size, bold=True)]
                     + [text_width(line, line_size) for line in lines]) + 24
                 for title, lines, _ in steps]
        spare = width - sum(needs) - gap * (len(steps) - 1)
        if spare < 0:
            raise ValueError(f"the steps need {-spare:.0f} px more than {width}")
        boxes: list[Box] = []
        for need, (title, lines, tone) in zip(needs, steps, strict=True):
            box = self.box(x, y, need + spare / len(steps), h, title, lines, tone=tone,
                           size=size, line_size=line_size)
            if boxes:
                self.arrow([boxes[-1].right, box.left])
            boxes.append(box)
            x += box.w + gap
        return boxes

    def pill(self, x: float, y: float, text: str, *, tone: str = "blue", size: float = 11
             ) -> float:
        """A small rounded label whose left edge is at ``x`` and centre at ``y``; its width."""
        colors = TONES[tone]
        w = text_width(text, size, bold=True) + 14
        self._parts.append('<g class="box">')
        self.rect(x, y - size * 0.95, w, size * 1.9, fill=colors.fill, stroke=colors.stroke,
                  radius=size * 0.95, width=1)
        self.text(x + w / 2, y + size * 0.36, text, size=size, bold=True, color=colors.ink,
                  anchor="middle")
        self._parts.append("</g>")
        return w

    def caption(self, x: float, y: float, text: str, *, anchor: str = "start") -> None:
        """A small upper-case heading, like the labels of the tear sheet's cards."""
        self.text(x, y, text.upper(), size=10.5, bold=True, color=MUTED, anchor=anchor)

    def note(self, x: float, y: float, text: str, *, anchor: str = "start",
             size: float = 11.5, color: str = MUTED) -> None:
        """A muted explanatory line."""
        self.text(x, y, text, size=size, color=color, anchor=anchor)

    def arrow(self, points: Iterable[tuple[float, float]], *, label: str | None = None,
              label_at: tuple[float, float] | None = None, dashed: bool = False,
              color: str = ARROW, both: bool = False, label_anchor: str = "middle") -> None:
        """A polyline ending in an arrowhead (both ends with ``both``), optionally labelled."""
        pts = list(points)
        path = " ".join(f"{'M' if i == 0 else 'L'}{_n(px)} {_n(py)}"
                        for i, (px, py) in enumerate(pts))
        marker = "arrow-muted" if color != ARROW else "arrow"
        attrs = [f'd="{path}"', 'fill="none"', f'stroke="{color}"', 'stroke-width="1.5"',
                 f'marker-end="url(#{marker})"']
        if both:
            attrs.append(f'marker-start="url(#{marker}-start)"')
        if dashed:
            attrs.append('stroke-dasharray="5 4"')
        self._parts.append(f"<path {' '.join(attrs)}/>")
        if label:
            if label_at is None:
                (x1, y1), (x2, y2) = pts[0], pts[-1]
                label_at = ((x1 + x2) / 2, (y1 + y2) / 2 - 6)
            self.text(label_at[0], label_at[1], label, size=11, color="#374151",
                      anchor=label_anchor, halo=True)

    # -- output ----------------------------------------------------------------------------

    def render(self) -> str:
        """The SVG document (deterministic: the same drawing gives the same bytes)."""
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="title desc" font-family="{FONT.replace(chr(39), "&apos;")}">\n'
            f"<title id=\"title\">{_esc(self.title)}</title>\n"
            f"<desc id=\"desc\">{_esc(self.description)}</desc>\n"
            "<defs>\n"
            + "".join(
                f'<marker id="{name}{suffix}" viewBox="0 0 10 10" refX="9" refY="5" '
                'markerWidth="7" markerHeight="7" '
                f'orient="{orient}"><path d="M0 0L10 5L0 10z" fill="{fill}"/></marker>\n'
                for name, fill in (("arrow", ARROW), ("arrow-muted", "#94a3b8"))
                for suffix, orient in (("", "auto"), ("-start", "auto-start-reverse")))
            + "<style>.halo{paint-order:stroke;stroke:#ffffff;stroke-width:4px;"
            "stroke-linejoin:round}</style>\n"
            "</defs>\n"
        )
        card = (f'<rect x="0.5" y="0.5" width="{self.width - 1}" height="{self.height - 1}" '
                f'rx="10" fill="#ffffff" stroke="{LINE}"/>\n')
        return head + card + "\n".join(self._parts) + "\n</svg>\n"
