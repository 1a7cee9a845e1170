"""Three small renderers of one Layout (see layout.py): PDF (reportlab, fonts embedded as subsets),
PNG (Pillow, at print resolution) and SVG (text stays text; font subsets embedded as data URIs)."""

from __future__ import annotations

import functools
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.colors import HexColor
from reportlab.pdfgen import canvas

from . import fonts
from .fonts import Style
from .layout import Circle, Layout, QRCode, Rect, Text

QR_DARK = "#000000"
QR_LIGHT = "#ffffff"
MM_PER_PT = 25.4 / 72


# --- PDF -------------------------------------------------------------------------------------------


def pdf(layout: Layout) -> bytes:
    out = io.BytesIO()
    # The initial font is ours too: reportlab's default, Helvetica, would be listed in the page's
    # resources without being embedded, and a printer without it substitutes another.
    c = canvas.Canvas(
        out, pagesize=(layout.width, layout.height), invariant=1, lang=layout.lang,
        initialFontName=fonts.pdf_name("regular"),
    )  # fmt: skip
    c.setTitle(layout.title)
    c.setAuthor("sealdrop")
    c.setCreator("sealdrop poster")
    for item in layout.items:
        _PDF[type(item)](c, item, layout.height)
    c.showPage()
    c.save()
    return out.getvalue()


def _pdf_rect(c: canvas.Canvas, r: Rect, page_h: float) -> None:
    if r.fill:
        c.setFillColor(HexColor(r.fill))
    if r.stroke:
        c.setStrokeColor(HexColor(r.stroke))
        c.setLineWidth(r.stroke_width)
    c.roundRect(
        r.x, page_h - r.y - r.h, r.w, r.h, r.radius, stroke=int(bool(r.stroke)), fill=int(bool(r.fill))
    )


def _pdf_circle(c: canvas.Canvas, o: Circle, page_h: float) -> None:
    c.setFillColor(HexColor(o.fill))
    c.circle(o.x, page_h - o.y, o.r, stroke=0, fill=1)


def _pdf_text(c: canvas.Canvas, t: Text, page_h: float) -> None:
    c.setFont(fonts.pdf_name(t.style), t.size)
    c.setFillColor(HexColor(t.color))
    draw = c.drawCentredString if t.anchor == "middle" else c.drawString
    draw(t.x, page_h - t.y, t.text)


def _pdf_qr(c: canvas.Canvas, q: QRCode, page_h: float) -> None:
    m = q.size / q.modules
    c.setFillColor(HexColor(QR_LIGHT))
    c.rect(q.x, page_h - q.y - q.size, q.size, q.size, stroke=0, fill=1)
    path = c.beginPath()
    for row, start, end in q.runs():
        # a hair taller than a module, so that viewers' anti-aliasing leaves no seams between rows
        path.rect(q.x + start * m, page_h - q.y - (row + 1) * m - 0.01, (end - start) * m, m + 0.01)
    c.setFillColor(HexColor(QR_DARK))
    c.drawPath(path, stroke=0, fill=1)


_PDF: dict[type, Callable] = {Rect: _pdf_rect, Circle: _pdf_circle, Text: _pdf_text, QRCode: _pdf_qr}


# --- PNG -------------------------------------------------------------------------------------------


def png(layout: Layout, dpi: int = 300) -> bytes:
    k = dpi / 72
    image = Image.new("RGB", (round(layout.width * k), round(layout.height * k)), QR_LIGHT)
    draw = ImageDraw.Draw(image)
    for item in layout.items:
        _PNG[type(item)](draw, item, k)
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi))
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def _pil_font(style: Style, pixels: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(fonts.path(style)), pixels, layout_engine=ImageFont.Layout.BASIC)


def _png_rect(draw: ImageDraw.ImageDraw, r: Rect, k: float) -> None:
    box = (r.x * k, r.y * k, (r.x + r.w) * k, (r.y + r.h) * k)
    width = max(1, round(r.stroke_width * k)) if r.stroke else 0
    draw.rounded_rectangle(box, radius=r.radius * k, fill=r.fill, outline=r.stroke, width=width)


def _png_circle(draw: ImageDraw.ImageDraw, o: Circle, k: float) -> None:
    draw.ellipse(((o.x - o.r) * k, (o.y - o.r) * k, (o.x + o.r) * k, (o.y + o.r) * k), fill=o.fill)


def _png_text(draw: ImageDraw.ImageDraw, t: Text, k: float) -> None:
    anchor = "ms" if t.anchor == "middle" else "ls"
    draw.text((t.x * k, t.y * k), t.text, font=_pil_font(t.style, t.size * k), fill=t.color, anchor=anchor)


def _png_qr(draw: ImageDraw.ImageDraw, q: QRCode, k: float) -> None:
    """Module edges rounded to whole pixels, the same edge for neighbours, so no module blurs."""
    m = q.size / q.modules

    def px(points: float) -> int:
        return round(points * k)

    draw.rectangle((px(q.x), px(q.y), px(q.x + q.size) - 1, px(q.y + q.size) - 1), fill=QR_LIGHT)
    for row, start, end in q.runs():
        box = (px(q.x + start * m), px(q.y + row * m), px(q.x + end * m) - 1, px(q.y + (row + 1) * m) - 1)
        draw.rectangle(box, fill=QR_DARK)


_PNG: dict[type, Callable] = {Rect: _png_rect, Circle: _png_circle, Text: _png_text, QRCode: _png_qr}


# --- SVG -------------------------------------------------------------------------------------------

SVG_NS = "http://www.w3.org/2000/svg"
FAMILIES: dict[Style, tuple[str, str, str]] = {  # (@font-face family, weight, fallbacks)
    "regular": ("sealdrop-sans", "400", "'DejaVu Sans', Verdana, sans-serif"),
    "bold": ("sealdrop-sans", "700", "'DejaVu Sans', Verdana, sans-serif"),
    "mono": ("sealdrop-mono", "400", "'DejaVu Sans Mono', monospace"),
}


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def svg(layout: Layout) -> bytes:
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "version": "1.1",
            "width": f"{_n(layout.width * MM_PER_PT)}mm",
            "height": f"{_n(layout.height * MM_PER_PT)}mm",
            "viewBox": f"0 0 {_n(layout.width)} {_n(layout.height)}",
            "{http://www.w3.org/XML/1998/namespace}lang": layout.lang,
        },
    )
    ET.SubElement(root, "title").text = layout.title
    ET.SubElement(root, "style").text = _font_faces(layout)
    for item in layout.items:
        _SVG[type(item)](root, item)
    ET.indent(root, space="")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _font_faces(layout: Layout) -> str:
    """One @font-face per style used: a subset of DejaVu holding only the poster's characters."""
    used: dict[Style, str] = {}
    for item in layout.items:
        if isinstance(item, Text):
            used[item.style] = used.get(item.style, "") + item.text
    rules = ["/* Fonts: DejaVu Sans and DejaVu Sans Mono, subset (Bitstream Vera / DejaVu licence). */"]
    for style, text in used.items():
        family, weight, _ = FAMILIES[style]
        uri = fonts.subset_data_uri(style, "".join(sorted(set(text))))
        rules.append(f"@font-face {{ font-family: {family}; font-weight: {weight}; src: url({uri}); }}")
    rules.append("text { font-kerning: none; }")
    return "\n".join(rules)


def _svg_rect(root: ET.Element, r: Rect) -> None:
    attrs = {"x": _n(r.x), "y": _n(r.y), "width": _n(r.w), "height": _n(r.h), "fill": r.fill or "none"}
    if r.radius:
        attrs["rx"] = _n(r.radius)
    if r.stroke:
        attrs |= {"stroke": r.stroke, "stroke-width": _n(r.stroke_width)}
    ET.SubElement(root, "rect", attrs)


def _svg_circle(root: ET.Element, o: Circle) -> None:
    ET.SubElement(root, "circle", {"cx": _n(o.x), "cy": _n(o.y), "r": _n(o.r), "fill": o.fill})


def _svg_text(root: ET.Element, t: Text) -> None:
    family, weight, fallbacks = FAMILIES[t.style]
    attrs = {
        "x": _n(t.x),
        "y": _n(t.y),
        "font-family": f"{family}, {fallbacks}",
        "font-size": _n(t.size),
        "font-weight": weight,
        "fill": t.color,
    }
    if t.anchor == "middle":
        attrs["text-anchor"] = "middle"
    ET.SubElement(root, "text", attrs).text = t.text


def _svg_qr(root: ET.Element, q: QRCode) -> None:
    m = q.size / q.modules
    group = ET.SubElement(root, "g", {"shape-rendering": "crispEdges"})
    ET.SubElement(group, "title").text = q.data
    size = _n(q.size)
    ET.SubElement(
        group, "rect", {"x": _n(q.x), "y": _n(q.y), "width": size, "height": size, "fill": QR_LIGHT}
    )
    d = "".join(
        f"M{_n(q.x + start * m)} {_n(q.y + row * m)}h{_n(run)}v{_n(m)}h{_n(-run)}z"
        for row, start, end in q.runs()
        for run in [(end - start) * m]
    )
    ET.SubElement(group, "path", {"d": d, "fill": QR_DARK})


_SVG: dict[type, Callable] = {Rect: _svg_rect, Circle: _svg_circle, Text: _svg_text, QRCode: _svg_qr}
