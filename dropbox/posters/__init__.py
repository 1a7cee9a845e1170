"""Posters for a desk: a QR code for phones, the onion address (and its QR code) for Tor Browser, the three
steps and safety advice, in the desk's language, as PDF, PNG or SVG on A4, A5 or A6.

    sealdrop poster --desk SLUG --lang L --url URL -o FILE.{pdf,png,svg} [--size A4|A5|A6]
                    [--tag PLACEMENT] [--onion ADDRESS] [--dpi N]

--url is the clearnet address: the desk's page (https://host/r/SLUG) or the site's root, to which
/r/SLUG is added. The onion address comes from the instance's config (`onion_address`) or --onion; with
neither, the poster has no onion part and says nothing about one.

The placement tag (--tag school-5) is added to the clearnet URL as ?src=school-5, so that the
municipality can see which places' posters are scanned. It names a place, never a person. The server
only counts it per desk, tag and day (dropbox.placements, shown on the admin poster page), and never logs
or stores it with anything else (address, time of day, user agent, case): next to a case, a tag says
where the reporter stood.

`render_poster` is what the desk's admin pages call; `cmd_poster` is the CLI's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..console import _
from ..placements import TAG
from . import layout, render
from .layout import PAGE_SIZES
from .texts import TEXTS

FORMATS = ("pdf", "png", "svg")
SIZES = tuple(PAGE_SIZES)
LANGUAGES = tuple(TEXTS)
ONION = re.compile(r"[a-z2-7]{56}")


class PosterError(ValueError):
    """One line for the operator. `str()` is the CLI's wording (it names options such as --url);
    `form_text` is the same news for the desk's poster form, which has fields, not options."""

    def __init__(self, cli_text: str, form_text: str | None = None) -> None:
        super().__init__(cli_text)
        self.form_text = form_text or cli_text


class DeskLike(Protocol):
    slug: str

    def name(self, lang: str) -> str: ...


def clearnet_url(url: str, slug: str, tag: str | None = None) -> str:
    """The URL the main QR code holds: http(s) only, /r/SLUG added to a bare site, ?src=TAG added."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url.strip()):
        must = f"must be an http:// or https:// address, not {url!r}"
        raise PosterError(f"--url {must}", f"The public address {must}.")
    if parts.hostname.endswith(".onion"):
        raise PosterError(
            "--url is the clearnet address; the onion address comes from the config or --onion",
            "The public address is the clearnet one (https://…); the onion address is added by itself.",
        )
    path = parts.path
    found = re.search(r"/r/([^/]+)/?$", path)
    if found and found.group(1) != slug:
        points = f"points to desk {found.group(1)!r}, not {slug!r}"
        raise PosterError(f"--url {points}", f"The public address {points}.")
    if not found:
        path = path.rstrip("/") + f"/r/{slug}"
    query = parts.query
    if tag is not None:
        if not TAG.fullmatch(tag):
            takes = "up to 40 letters, digits, '.', '_' or '-' naming a place (school-5)"
            raise PosterError(f"--tag takes {takes}", f"Where it will hang: {takes}.")
        query = f"{query}&{urlencode({'src': tag})}" if query else urlencode({"src": tag})
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def onion_address(address: str) -> str:
    """`<56 chars>.onion` from what an operator might type or the config holds; checks the v3 checksum."""
    host = urlsplit(address.strip() if "://" in address else f"http://{address.strip()}").hostname or ""
    name = host.removesuffix(".onion")
    if not ONION.fullmatch(name):
        raise PosterError(
            f"{address!r} is not a v3 onion address (56 letters a-z and digits 2-7, then .onion)"
        )
    raw = base64.b32decode(name.upper())
    key, checksum, version = raw[:32], raw[32:34], raw[34:]
    if version != b"\x03" or hashlib.sha3_256(b".onion checksum" + key + version).digest()[:2] != checksum:
        raise PosterError(f"{address!r} has a typo: its checksum does not match (check every character)")
    return f"{name}.onion"


def content(desk: DeskLike, lang: str, url: str, onion: str | None, tag: str | None) -> layout.Content:
    if lang not in TEXTS:
        raise PosterError(f"no poster texts in {lang!r}; languages: {', '.join(LANGUAGES)}")
    onion_host = onion_address(onion) if onion else None
    return layout.Content(
        lang=lang,
        desk_name=desk.name(lang),
        texts=TEXTS[lang],
        url=clearnet_url(url, desk.slug, tag),
        onion_url=f"http://{onion_host}/r/{desk.slug}" if onion_host else None,
        onion_label=f"{onion_host}/r/{desk.slug}" if onion_host else None,
    )


def render_poster(
    desk: DeskLike,
    lang: str,
    url: str,
    fmt: str = "pdf",
    size: str = "A4",
    onion: str | None = None,
    tag: str | None = None,
    dpi: int = 300,
) -> bytes:
    """The poster's bytes. `onion` is the instance's onion address (None or "": no onion part)."""
    return render_content(content(desk, lang, url, onion, tag), fmt, size, dpi)


def render_content(poster: layout.Content, fmt: str, size: str = "A4", dpi: int = 300) -> bytes:
    if fmt not in FORMATS:
        raise PosterError(f"posters are {', '.join(FORMATS)}, not {fmt!r}")
    if size not in PAGE_SIZES:
        raise PosterError(f"poster sizes are {', '.join(SIZES)}, not {size!r}")
    if not 72 <= dpi <= 1200:
        raise PosterError("--dpi must be between 72 and 1200", "The resolution must be 72 to 1200 dpi.")
    laid = layout.compute(poster, size)
    if fmt == "png":
        return render.png(laid, dpi)
    return render.pdf(laid) if fmt == "pdf" else render.svg(laid)


def format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PosterError(f"the output file must end in .pdf, .png or .svg, not {path.name!r}")
    return fmt


def write_atomically(path: Path, data: bytes) -> None:
    """All or nothing: a temporary file beside the target, renamed over it once complete."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cmd_poster(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from .. import config as config_mod
    from .. import db
    from ..models import Desk

    output = Path(args.output)
    fmt = format_of(output)
    if not output.parent.is_dir():
        raise PosterError(f"no folder {output.parent} for the poster")
    cfg = config_mod.load(Path(args.dir))
    onion = cfg.onion_address if args.onion is None else args.onion
    with db.standalone_session(cfg.database_url) as session:
        desk = session.scalar(select(Desk).where(Desk.slug == args.desk))
        if desk is None:
            raise PosterError(f"no desk {args.desk}")
        poster = content(desk, args.lang, args.url, onion or None, args.tag)
    write_atomically(output, render_content(poster, fmt, args.size, args.dpi))
    print(f"poster: {output} ({args.size}, {args.lang})")
    print(f"QR code: {poster.url}")
    print(f"onion QR code: {poster.onion_url}" if poster.onion_url else "no onion address: none printed")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `poster` subcommand, for dropbox.cli's parser."""
    p = sub.add_parser("poster", help=_("a printable poster: QR codes, onion address, three steps"))
    p.add_argument(
        "--desk", required=True, metavar="SLUG", help=_("the desk whose page the poster points at")
    )
    p.add_argument(
        "--lang",
        required=True,
        metavar="L",
        help=_("one of %(languages)s") % {"languages": ", ".join(LANGUAGES)},
    )
    p.add_argument("--url", required=True, help=_("the clearnet address (the site, or its /r/SLUG page)"))
    p.add_argument("-o", "--output", required=True, metavar="FILE", help=_("FILE.pdf, FILE.png or FILE.svg"))
    p.add_argument("--size", default="A4", type=str.upper, choices=SIZES, help=_("paper size (default A4)"))
    p.add_argument("--tag", metavar="PLACEMENT", help=_("where the poster hangs (school-5): added as ?src="))
    p.add_argument(
        "--onion",
        metavar="ADDRESS",
        help=_("the onion address (default: the instance's config; '' for none)"),
    )
    p.add_argument("--dpi", type=int, default=300, help=_("PNG resolution (default 300)"))
    p.set_defaults(run=cmd_poster)
