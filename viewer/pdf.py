"""The printable case: a PDF made with reportlab from the case data, every string escaped (reportlab's
paragraphs read markup), photos re-encoded by images.reencode like on screen. Made in memory, on demand:
it is plaintext, so it is never stored in the vault."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer

from . import geo, hidden, i18n, images, media
from .errors import ViewerError
from .i18n import _
from .labels import actor_text, history_text, human_size, state_label, stored_text, word_label
from .vault import Vault

PDF_TEXT_LIMIT = 20_000  # characters of a report's text in print; the case file holds all of it
_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]
_font: tuple[str, str] | None = None


def _fonts() -> tuple[str, str]:
    """DejaVu Sans (Cyrillic, Kazakh) when Debian's fonts-dejavu-core is there, else Helvetica."""
    global _font
    if _font is None:
        if all(p.exists() for p in _FONTS):
            pdfmetrics.registerFont(TTFont("SealviewSans", str(_FONTS[0])))
            pdfmetrics.registerFont(TTFont("SealviewSans-Bold", str(_FONTS[1])))
            _font = ("SealviewSans", "SealviewSans-Bold")
        else:
            _font = ("Helvetica", "Helvetica-Bold")
    return _font


def _text(value: object) -> str:
    """Escaped for a reportlab paragraph; overlong words broken so they wrap."""
    words = []
    for word in str(value or "").split(" "):
        words.append(" ".join(word[i : i + 60] for i in range(0, len(word), 60)) if len(word) > 60 else word)
    return escape(" ".join(words)).replace("\n", "<br/>")


def case_pdf(vault: Vault, data: dict, forwarded: dict | None = None) -> bytes:
    regular, bold = _fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11)
    h1 = ParagraphStyle("h1", parent=base["Heading1"], fontName=bold, fontSize=16)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=12.5)
    c = data["case"]
    names = vault.category_names
    title = _("Case %(case)s", case=c["number"])
    story = [Paragraph(_text(title), h1)]
    state = state_label(data["state"])
    if data["duplicate_of"]:
        state = _("%(state)s of %(case)s", state=state, case=data["duplicate_of"])
    facts = [
        (_("Desk"), c["desk"]),
        (_("Received"), i18n.day(c["received_day"])),
        (_("Category"), i18n.category(names, c["category_name"], c.get("category_slug") or "") or "—"),
        (_("State"), state),
    ]
    if forwarded:
        facts.append(
            (
                _("Forwarded"),
                _(
                    "to %(name)s (%(fp)s) on %(when)s",
                    name=forwarded["to"],
                    fp=forwarded["fingerprint"],
                    when=i18n.when(forwarded["at"]),
                ),
            )
        )
    facts.append((_("Officer"), actor_text(vault.actor)))
    story += [_fact(k, v, body) for k, v in facts]
    for i, r in enumerate(data["reports"], 1):
        story += [
            Spacer(1, 4 * mm),
            Paragraph(_text(_report_title(i, r)), h2),
        ]
        if not r["opened"]:
            story.append(Paragraph(_text(stored_text(r["problem"])), body))
            continue
        where = r["where"]
        place = ""
        if where.get("lat") is not None:
            place = geo.shown_coordinates(where["lat"], where["lon"], where.get("precision"))
            place += f" ({geo.precision_text(where.get('precision', 'place'))})"
        place = " — ".join(x for x in (where.get("place") or where.get("text") or "", place) if x) or _(
            "not given"
        )
        story += [
            _fact(_("When"), r["when_text"] or _("not given"), body),
            _fact(_("Where"), place, body),
        ]
        if r["contact"]:
            story.append(_fact(_("Contact"), r["contact"], body))
        what = r["what"]
        if len(what) > PDF_TEXT_LIMIT:
            cut = _("[… cut: %(n)d characters in all; the case file has the rest]", n=len(r["what"]))
            what = what[:PDF_TEXT_LIMIT] + "\n" + cut
        story += [Paragraph(_text(part), body) for part in what.split("\n\n") if part.strip()]
        story += [Paragraph(_text(_("Warning: %(text)s", text=stored_text(w))), small) for w in r["warnings"]]
        for a in r["attachments"]:
            story += _attachment(vault, a, body, small)
    for section, rows, fmt in (
        (_("Notes"), data["notes"], lambda n: f"{i18n.when(n['at'])}, {actor_text(n['actor'])}: {n['text']}"),
        (
            _("Replies to the reporter"),
            data["replies"],
            lambda n: (
                f"{i18n.day(n['day'])}: {n['text']} [{word_label(n['status']) if n['status'] else '—'}]"
            ),
        ),
        (
            _("History"),
            data["history"],
            lambda n: (
                f"{i18n.when(n['at'])} {actor_text(n['actor'])}: {history_text(n['action'], n['detail'])}"
            ),
        ),
    ):
        if rows:
            story += [Spacer(1, 3 * mm), Paragraph(_text(section), h2)]
            story += [Paragraph(_text(fmt(n)), small) for n in rows]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=title,
        author="sealview",
        lang=i18n.current(),
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    doc.build(story)
    return out.getvalue()


def _fact(label: str, value: object, style) -> Paragraph:
    return Paragraph(f"<b>{_text(_('%(label)s:', label=label))}</b> {_text(value)}", style)


def _report_title(i: int, r: dict) -> str:
    day = i18n.day(r["received_day"])
    if r["first"]:
        return _("Report %(n)d, received %(day)s", n=i, day=day)
    return _("Addition %(n)d, received %(day)s", n=i, day=day)


def _attachment(vault: Vault, a: dict, body, small) -> list:
    label = _(
        "Attachment %(n)d: %(name)s (%(type)s, %(size)s)",
        n=a["position"],
        name=a["name"],
        type=a["mime"],
        size=human_size(a["size"] or 0),
    )
    out = [Paragraph(_text(label), small)]
    if not a["opened"]:  # why the file is not in the case file, as the page and `sealview show` say
        return [*out, Paragraph(_text(stored_text(a["problem"])), small)] if a["problem"] else out
    if a["family"] == "image":
        printed, check = _photo(vault, a, small)
    else:
        printed, check = [], hidden.check_attachment(vault, a)
    return [*out, *printed, *_hidden_data(check, a["metadata"], small)]


def _photo(vault: Vault, a: dict, small) -> tuple[list, hidden.Check]:
    """The photo re-encoded for print, and its hidden data read from the same bytes."""
    try:
        original = media.plaintext(vault, a, images.MAX_BYTES)
    except ViewerError as e:
        return [Paragraph(_text(_("(not printed: %(reason)s)", reason=e)), small)], hidden.Check(
            unchecked=str(e)
        )
    if original is None:
        return [Paragraph(_text(_("(not printed: too large to print)")), small)], hidden.Check(
            unchecked=_("It is larger than %(n)d MB, more than sealview reads.", n=images.MAX_BYTES >> 20)
        )
    check = hidden.check_photo(original)
    try:
        jpeg = images.reencode(original, side=1000)
    except images.ImageRefused as e:
        return [Paragraph(_text(_("(not printed: %(reason)s)", reason=e)), small)], check
    picture = Image(io.BytesIO(jpeg))
    w, h = picture.imageWidth, picture.imageHeight
    scale = min(160 * mm / w, 110 * mm / h, 1.0)
    picture.drawWidth, picture.drawHeight = w * scale, h * scale
    return [picture], check


def _hidden_data(check: hidden.Check, claim: str, small) -> list:
    """What the original file (which the case file carries as it is) still says about the reporter."""
    out = []
    if check.warnings:
        intro = _(
            "Hidden data in this file could identify the reporter. %(claim)s", claim=hidden.claim_text(claim)
        )
        out.append(Paragraph(f"<b>{_text(intro)}</b>", small))
        out += [Paragraph(_text(f"• {s}"), small) for s in check.warnings + check.notes]
    elif check.notes:
        out += [
            Paragraph(_text(_("Also written into this file: %(text)s", text=s)), small) for s in check.notes
        ]
    if check.unchecked:
        text = _(
            "Its hidden data could not be checked: %(reason)s Handle it with care.", reason=check.unchecked
        )
        out.append(Paragraph(f"<b>{_text(text)}</b>", small))
    return out
