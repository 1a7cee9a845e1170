"""The poster's fonts: Debian's DejaVu (package fonts-dejavu-core), which covers Latin and Cyrillic,
Kazakh letters included. The PDF embeds subsets (reportlab), the PNG rasterises them (Pillow) and the
SVG carries subsets as data URIs (fontTools), so all three look alike on a machine without the font."""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Literal

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

Style = Literal["regular", "bold", "mono"]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FILES: dict[Style, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}
PDF_NAMES: dict[Style, str] = {"regular": "DejaVuSans", "bold": "DejaVuSans-Bold", "mono": "DejaVuSansMono"}


class FontMissing(ValueError):
    pass


def path(style: Style) -> Path:
    found = FONT_DIR / FILES[style]
    if not found.is_file():
        raise FontMissing(f"{found} is missing: install Debian's fonts-dejavu-core (make setup does)")
    return found


@functools.cache
def pdf_name(style: Style) -> str:
    """Register the font with reportlab once and return its name there."""
    name = PDF_NAMES[style]
    pdfmetrics.registerFont(TTFont(name, str(path(style))))
    return name


def width(text: str, style: Style, size: float) -> float:
    """Advance width in points (no kerning: the PDF sets none, and the SVG and PNG are told not to)."""
    return pdfmetrics.stringWidth(text, pdf_name(style), size)


def subset_data_uri(style: Style, text: str) -> str:
    """A TrueType subset holding just the glyphs of `text`, as a data: URI for an SVG @font-face."""
    from fontTools import subset
    from fontTools.ttLib import TTFont as FTFont

    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing a renderer needs
    font = FTFont(str(path(style)))
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text + " ")
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return "data:font/ttf;base64," + base64.b64encode(out.getvalue()).decode("ascii")
