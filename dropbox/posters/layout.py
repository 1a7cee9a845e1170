"""The one description of a poster: where every text, box and QR code goes, in points from the top-left
corner. The PDF, PNG and SVG renderers draw these items and decide nothing about placement.

Top to bottom: a band with the desk's name and the headline; the QR code for the clearnet page (46% of
the width) with "scan" and the three steps beside it, the URL and what the reporter gets under it; a box
for reporters at risk (with the onion address and its QR code when the instance has one); the privacy
line at the foot. Type starts large and shrinks until everything fits (never under 6 pt); height left
over goes into the gaps between the blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import segno

from . import fonts
from .fonts import Style
from .texts import PosterTexts

PAGE_SIZES: dict[str, tuple[float, float]] = {  # points, portrait
    "A4": (595.28, 841.89),
    "A5": (419.53, 595.28),
    "A6": (297.64, 419.53),
}
NAVY = "#17324d"
INK = "#1a1a1a"
MUTED = "#4d4d4d"
PALE = "#d9e6f2"
WHITE = "#ffffff"
AMBER = "#a35f00"
AMBER_FILL = "#fff3d9"
MIN_TYPE = 6.0  # points: nothing on a poster is set smaller
QR_BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks
Anchor = Literal["start", "middle"]


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float
    style: Style = "regular"
    color: str = INK
    anchor: Anchor = "start"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str | None
    stroke: str | None = None
    stroke_width: float = 0.0
    radius: float = 0.0


@dataclass(frozen=True)
class Circle:
    x: float  # centre
    y: float
    r: float
    fill: str


@dataclass(frozen=True)
class QRCode:
    """A QR code with its quiet zone: `size` points square, white behind, dark modules in runs."""

    x: float
    y: float
    size: float
    data: str
    matrix: tuple[bytes, ...]  # without the quiet zone; 1 = dark

    @property
    def modules(self) -> int:
        return len(self.matrix) + 2 * QR_BORDER

    def runs(self) -> Iterator[tuple[int, int, int]]:
        """Dark runs as (row, first column, column after the last), quiet zone included in the indices."""
        for row, line in enumerate(self.matrix):
            col = 0
            while col < len(line):
                if line[col]:
                    start = col
                    while col < len(line) and line[col]:
                        col += 1
                    yield row + QR_BORDER, start + QR_BORDER, col + QR_BORDER
                else:
                    col += 1


Item = Text | Rect | Circle | QRCode


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    items: tuple[Item, ...]
    title: str
    lang: str


@dataclass(frozen=True)
class Content:
    """What goes on a poster, already validated (see dropbox.posters.render_poster)."""

    lang: str
    desk_name: str
    texts: PosterTexts
    url: str  # the clearnet page, placement tag included
    onion_url: str | None  # http://<address>.onion/r/<desk>, or None: no onion part at all
    onion_label: str | None  # how the address is printed: <address>.onion/r/<desk>


@dataclass(frozen=True)
class Block:
    """Items placed relative to the block's top edge (y = 0) and left content edge (x = 0)."""

    height: float
    items: tuple[Item, ...]


def qr_code(x: float, y: float, size: float, data: str) -> QRCode:
    code = segno.make(data, error="m", micro=False)  # boosts to Q or H when the version allows
    return QRCode(x, y, size, data, tuple(bytes(row) for row in code.matrix))


def wrap(text: str, style: Style, size: float, width: float) -> list[str]:
    """Greedy word wrap; a word wider than the line (a URL) is cut between characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if fonts.width(candidate, style, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while fonts.width(line, style, size) > width:
            cut = max(
                1, max(i for i in range(1, len(line) + 1) if fonts.width(line[:i], style, size) <= width)
            )
            lines.append(line[:cut])
            line = line[cut:]
    return [*lines, line] if line else lines


def fitted_size(text: str, style: Style, size: float, width: float) -> float:
    """The largest size up to `size` at which `text` fits on one line of `width`."""
    return min(size, 0.999 * width / max(fonts.width(text, style, 1.0), 1e-6))  # 0.999: no rounding wrap


def paragraph(
    text: str, style: Style, size: float, width: float, color: str = INK, anchor: Anchor = "start"
) -> Block:
    """Wrapped lines; the block runs from the first line's ascender to the last line's descender."""
    size = max(size, MIN_TYPE)
    lines = wrap(text, style, size, width)
    x = width / 2 if anchor == "middle" else 0.0
    leading = size * 1.25
    items = tuple(
        Text(x, size * 0.95 + i * leading, line, size, style, color, anchor) for i, line in enumerate(lines)
    )
    return Block((len(lines) - 1) * leading + size * 1.2 if lines else 0.0, items)


def stack(blocks: list[Block], gap: float = 0.0, x: float = 0.0) -> Block:
    """Blocks one under the other, `gap` apart, shifted right by `x`."""
    items: list[Item] = []
    y = 0.0
    for block in blocks:
        items += [moved(item, x, y) for item in block.items]
        y += block.height + gap
    return Block(max(0.0, y - gap), tuple(items))


def moved(item: Item, dx: float, dy: float) -> Item:
    return replace(item, x=item.x + dx, y=item.y + dy)


def header(content: Content, width: float, f: float) -> Block:
    pad = 14 * f
    inner = width - 2 * pad
    text = stack(
        [
            paragraph(content.desk_name, "regular", 12 * f, inner, PALE),
            paragraph(content.texts.headline, "bold", 25 * f, inner, WHITE),
            paragraph(content.texts.subline, "regular", 12 * f, inner, PALE),
        ],
        gap=5 * f,
    )
    height = text.height + 2 * pad
    band = Rect(0, 0, width, height, NAVY, radius=6 * f)
    return Block(height, (band, *(moved(i, pad, pad) for i in text.items)))


def beside(left: Block, right: Block, offset: float) -> Block:
    """Two blocks side by side, tops aligned, the right one `offset` points in."""
    items = left.items + tuple(moved(i, offset, 0) for i in right.items)
    return Block(max(left.height, right.height), items)


def centred(block: Block, height: float) -> Block:
    return Block(height, tuple(moved(i, 0, (height - block.height) / 2) for i in block.items))


def steps(content: Content, width: float, f: float) -> Block:
    """The "scan" line and the three numbered steps, for the column beside the main QR code."""
    radius = 11 * f
    indent = 2 * radius + 8 * f
    rows = [paragraph(content.texts.scan, "bold", 15 * f, width)]
    for number, (title, detail) in enumerate(content.texts.steps, start=1):
        text = stack(
            [
                paragraph(title, "bold", 13 * f, width - indent),
                paragraph(detail, "regular", 11 * f, width - indent),
            ],
            gap=1.5 * f,
        )
        badge = Block(
            2 * radius,
            (
                Circle(radius, radius, radius, NAVY),
                Text(radius, radius + 4.9 * f, str(number), 14 * f, "bold", WHITE, "middle"),
            ),
        )
        rows.append(beside(badge, text, indent))
    return stack(rows, gap=9 * f)


def code_and_steps(content: Content, width: float, f: float) -> Block:
    """The main QR code on the left, the steps beside it, the URL in letters under both."""
    side = 0.46 * width
    gutter = 14 * f
    column = steps(content, width - side - gutter, f)
    height = max(side, column.height)
    code = Block(side, (qr_code(0, 0, side, content.url),))
    row = beside(centred(code, height), centred(column, height), side + gutter)
    url_size = max(MIN_TYPE, fitted_size(content.url, "regular", 10 * f, width))
    url = paragraph(content.url, "regular", url_size, width, MUTED)
    after = paragraph(content.texts.after, "regular", 11 * f, width, INK)
    return stack([row, url, after], gap=6 * f)


def onion_address(label: str, width: float, f: float) -> Block:
    """The address in full, on one line if it fits at a readable size, else the path on a second line."""
    size = fitted_size(label, "mono", 12 * f, width)
    if size >= max(MIN_TYPE, 8.5 * f):
        return paragraph(label, "mono", size, width)
    address, _, path = label.partition("/")
    size = max(MIN_TYPE, fitted_size(address, "mono", 12 * f, width))
    return stack([paragraph(address, "mono", size, width), paragraph("/" + path, "mono", size, width)])


def safety(content: Content, width: float, f: float) -> Block:
    """The box for reporters at risk: Tor Browser, the onion QR code and address when there is one."""
    pad = 12 * f
    inner = width - 2 * pad
    t = content.texts
    if content.onion_url and content.onion_label:
        side = max(0.22 * width, min(0.3 * width, 85.0))  # 4 cm on A4, 3 cm on A5, 2.8 cm on A6
        text_width = inner - side - 10 * f
        text = stack(
            [
                paragraph(t.safety_title, "bold", 13 * f, text_width),
                paragraph(t.safety_onion, "regular", 11 * f, text_width),
                paragraph(t.open_onion, "regular", 11 * f, text_width),
            ],
            gap=5 * f,
        )
        code = Block(side, (qr_code(0, 0, side, content.onion_url),))
        row = beside(code, text, side + 10 * f)
        body = stack([row, onion_address(content.onion_label, inner, f)], gap=5 * f)
    else:
        title = paragraph(t.safety_title, "bold", 13 * f, inner)
        body = stack([title, paragraph(t.safety_plain, "regular", 11 * f, inner)], gap=5 * f)
    height = body.height + 2 * pad
    box = Rect(0, 0, width, height, AMBER_FILL, AMBER, 1.2 * f, 6 * f)
    return Block(height, (box, *(moved(i, pad, pad) for i in body.items)))


def _attempt(content: Content, width: float, height: float, f: float) -> Layout | None:
    margin = max(16.0, 36 * width / PAGE_SIZES["A4"][0])
    inner = width - 2 * margin
    blocks = [
        header(content, inner, f),
        code_and_steps(content, inner, f),
        safety(content, inner, f),
        paragraph(content.texts.footer, "regular", 8.5 * f, inner, MUTED, "middle"),
    ]
    spare = height - 2 * margin - sum(b.height for b in blocks)
    gaps = len(blocks) - 1
    if spare < gaps * 10 * f:
        return None
    gap = min(spare / gaps, 36 * f)  # what is left over goes above the footer, which stays at the bottom
    body, footer = stack(blocks[:-1], gap=gap), blocks[-1]
    items = tuple(moved(i, margin, margin) for i in body.items) + tuple(
        moved(i, margin, height - margin - footer.height) for i in footer.items
    )
    return Layout(width, height, items, f"{content.desk_name}: {content.texts.headline}", content.lang)


def compute(content: Content, size: str) -> Layout:
    """Lay the poster out on `size`: type scales with the page (less than the page does) and shrinks
    step by step when a language's words do not fit."""
    width, height = PAGE_SIZES[size]
    f = 1.3 * (width / PAGE_SIZES["A4"][0]) ** 0.5  # from large type down to the first that fits
    for _ in range(30):
        laid = _attempt(content, width, height, f)
        if laid is not None:
            return laid
        f *= 0.96
    raise ValueError(f"the poster's texts do not fit on {size}")
