"""Posters: every format and size renders, every QR code decodes to exactly the right URL, the texts
are there as text (Cyrillic included), and bad input fails with one line and no file."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

import crypto.keys
from dropbox import cli, config, posters
from dropbox.posters import texts
from tests.helpers import make_instance

ONION = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"  # a real v3 address
TYPO = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczae.onion"  # one letter off
SITE = "https://signal.example.bg"
CLEAR = f"{SITE}/r/demo?src=school-5"
ONION_URL = f"http://{ONION}/r/demo"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # cheap Argon2 for the demo identities, as tests/conftest.py
        mp.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
        mp.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)
        return make_instance(tmp_path_factory.mktemp("posters") / "instance")


def poster(instance: Path, out: Path, *extra: str, lang: str = "bg", onion: str | None = ONION) -> int:
    args = ["poster", "--dir", str(instance), "--desk", "demo", "--lang", lang, "--url", SITE, "-o", str(out)]
    args += ["--onion", onion] if onion is not None else []
    return cli.main([*args, *extra])


def decoded(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return sorted(code.text for code in found)


def pdf_pages_as_png(pdf: Path, dpi: int = 200) -> Image.Image:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
                   check=True)  # fmt: skip
    return Image.open(pdf.with_suffix(".png"))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True
    ).stdout.decode()


def svg_texts(svg: Path) -> list[str]:
    return [t.text or "" for t in ET.parse(svg).getroot().iter(f"{SVG}text")]


def svg_qr_images(svg: Path, scale: float = 6) -> list[Image.Image]:
    """Each QR code group of the SVG redrawn from its path with Pillow, as a scanner would see it."""
    images = []
    for group in ET.parse(svg).getroot().iter(f"{SVG}g"):
        back, path = group.find(f"{SVG}rect"), group.find(f"{SVG}path")
        x0, y0, size = (float(back.get(k)) for k in ("x", "y", "width"))
        image = Image.new("L", (round(size * scale), round(size * scale)), 255)
        draw = ImageDraw.Draw(image)
        for x, y, w, h in re.findall(r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z", path.get("d")):
            left, top = (float(x) - x0) * scale, (float(y) - y0) * scale
            draw.rectangle((left, top, left + float(w) * scale - 1, top + float(h) * scale - 1), fill=0)
        images.append(image)
    return images


def step_titles(lang: str) -> list[str]:
    return [title for title, _ in texts.TEXTS[lang].steps]


def steps_in_words(lang: str) -> list[str]:
    """Every step's title and sentence, and the "scan" line: what a reporter must be able to read."""
    words = texts.TEXTS[lang]
    return [words.scan, *(part for step in words.steps for part in step)]


def flowing(text: str) -> str:
    """Text with its line breaks and layout spacing folded, so that wrapped sentences read whole."""
    return " ".join(text.split())


def pdf_fonts(pdf: Path) -> list[dict[str, str]]:
    """`pdffonts` rows: name, type, embedded, subset."""
    out = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines()[2:]:  # after the header and its dashes
        name, kind, *middle, emb, sub, _uni, _obj, _gen = line.split()
        rows.append({"name": name, "type": " ".join([kind, *middle[:-1]]), "emb": emb, "sub": sub})
    return rows


DESK_NAMES = {
    "bg": "Демо община",
    "kk": "Демо әкімдік",
    "ru": "Демо-муниципалитет",
    "en": "Demo municipality",
}
LANGS = ["bg", "ru", "kk", "en"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("size", ["A4", "A5", "A6"])
def test_pdf_codes_decode_and_text_is_searchable(instance, tmp_path, size, lang):
    out = tmp_path / "poster.pdf"
    assert poster(instance, out, "--size", size, "--tag", "school-5", lang=lang) == 0
    assert out.read_bytes().startswith(b"%PDF")
    assert decoded(pdf_pages_as_png(out)) == sorted([CLEAR, ONION_URL])
    text = pdf_text(out)
    assert ONION in text
    for title in step_titles(lang):
        assert title in text
    for words in steps_in_words(lang):
        assert words in flowing(text), words
    assert texts.TEXTS[lang].headline in flowing(text)
    assert DESK_NAMES[lang] in text
    fonts = pdf_fonts(out)
    assert {f["name"].split("+", 1)[-1] for f in fonts} >= {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"}
    for font in fonts:  # every font in the file itself: it prints alike on a machine without DejaVu
        assert (font["emb"], font["sub"]) == ("yes", "yes"), font


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("size", ["A4", "A5", "A6"])
def test_png_codes_decode_at_print_resolution(instance, tmp_path, size, lang):
    out = tmp_path / "poster.png"
    assert poster(instance, out, "--size", size, "--tag", "school-5", lang=lang) == 0
    image = Image.open(out)
    width_mm = {"A4": 210, "A5": 148, "A6": 105}[size]
    assert image.width == pytest.approx(width_mm / 25.4 * 300, abs=2)
    assert image.info["dpi"][0] == pytest.approx(300, abs=0.01)  # PNG stores dots per metre
    assert decoded(image) == sorted([CLEAR, ONION_URL])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("size", ["A4", "A5", "A6"])
def test_svg_keeps_text_as_text_and_codes_decode(instance, tmp_path, size, lang):
    out = tmp_path / "poster.svg"
    assert poster(instance, out, "--size", size, "--tag", "school-5", lang=lang) == 0
    root = ET.parse(out).getroot()
    assert root.get("width") == {"A4": "210mm", "A5": "148mm", "A6": "105mm"}[size]
    lines = svg_texts(out)
    assert any(ONION in line for line in lines)
    for title in step_titles(lang):
        assert title in lines
    for words in steps_in_words(lang):
        assert words in flowing(" ".join(lines)), words
    assert "@font-face" in root.find(f"{SVG}style").text  # subsets embedded: prints alike anywhere
    found = [text for image in svg_qr_images(out) for text in decoded(image)]
    assert sorted(found) == sorted([CLEAR, ONION_URL])


def test_without_onion_address_the_poster_claims_none(instance, tmp_path):
    assert config.load(instance).onion_address == ""
    out = tmp_path / "poster.pdf"
    assert poster(instance, out, "--size", "A5", lang="ru", onion=None) == 0
    assert decoded(pdf_pages_as_png(out)) == [f"{SITE}/r/demo"]
    text = pdf_text(out)
    assert ".onion" not in text
    assert texts.TEXTS["ru"].open_onion not in text
    assert "Tor Browser" in text  # the advice still stands: open the clearnet address in Tor Browser


def test_onion_address_comes_from_the_config(tmp_path):
    instance = make_instance(tmp_path / "instance")
    config.save(config.load(instance).with_overrides(onion_address=f"http://{ONION.upper()}/"))
    out = tmp_path / "poster.png"
    assert poster(instance, out, "--size", "A6", lang="en", onion=None) == 0
    assert decoded(Image.open(out)) == sorted([f"{SITE}/r/demo", ONION_URL])
    out_none = tmp_path / "none.png"
    assert poster(instance, out_none, "--size", "A6", lang="en", onion="") == 0  # '' leaves it off
    assert decoded(Image.open(out_none)) == [f"{SITE}/r/demo"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--desk": "nowhere"}, "no desk nowhere"),
        ({"--lang": "de"}, "no poster texts in 'de'"),
        ({"-o": "poster.jpg"}, "must end in .pdf, .png or .svg"),
        ({"--url": "ftp://signal.example.bg"}, "http:// or https://"),
        ({"--url": "signal.example.bg"}, "http:// or https://"),
        ({"--url": "javascript:alert(1)"}, "http:// or https://"),
        ({"--url": f"http://{ONION}"}, "clearnet"),
        ({"--url": f"{SITE}/r/other"}, "desk 'other'"),
        ({"--tag": "Ivan Petrov"}, "--tag"),
        ({"--onion": TYPO}, "checksum"),
        ({"--onion": "example.onion"}, "not a v3 onion address"),
        ({"--size": "A3"}, "invalid choice"),
        ({"--dpi": "20"}, "--dpi"),
        ({"-o": "missing/poster.pdf"}, "no folder"),
    ],
)
def test_bad_input_is_one_line_and_no_file(instance, tmp_path, capsys, change, message):
    args = {"--desk": "demo", "--lang": "bg", "--url": SITE, "-o": "poster.pdf", "--onion": ONION}
    args |= change
    args["-o"] = str(tmp_path / args["-o"])
    argv = ["poster", "--dir", str(instance), *(part for pair in args.items() for part in pair)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_render_poster_gives_bytes_for_the_admin_pages():
    class Desk:
        slug = "sofia"

        def name(self, lang: str) -> str:
            return {"bg": "Столична община"}.get(lang, "Sofia")

    pdf = posters.render_poster(Desk(), "bg", "https://x.example/", "pdf", "A6", ONION, "park")
    assert pdf.startswith(b"%PDF")
    png = posters.render_poster(Desk(), "kk", "https://x.example/", "png", "A6", None, None, dpi=150)
    assert png.startswith(b"\x89PNG")
    svg = posters.render_poster(Desk(), "en", "https://x.example/", "svg", "A4")
    assert b"https://x.example/r/sofia" in svg
    again = posters.render_poster(Desk(), "bg", "https://x.example/", "pdf", "A6", ONION, "park")
    assert again == pdf  # no dates or random ids: the same poster is the same file


def test_clearnet_url_and_onion_normalisation():
    assert posters.clearnet_url("https://a.example", "demo") == "https://a.example/r/demo"
    assert (
        posters.clearnet_url("https://a.example/tips/", "demo", "s-5")
        == "https://a.example/tips/r/demo?src=s-5"
    )
    assert (
        posters.clearnet_url("https://a.example/r/demo?x=1", "demo", "s")
        == "https://a.example/r/demo?x=1&src=s"
    )
    for typed in (ONION, ONION.removesuffix(".onion"), f"http://{ONION}/r/demo", ONION.upper()):
        assert posters.onion_address(typed) == ONION


def test_every_language_has_every_text():
    assert set(texts.TEXTS) == set(config.LANGUAGES)
    for lang, words in texts.TEXTS.items():
        assert all(vars(words).values()), lang
        assert len(words.steps) == 3


def test_pdf_tools_are_installed():
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), (
        "apt-get install poppler-utils (make setup)"
    )


def test_placement_tags_are_counted_per_desk_and_day_and_nothing_else(tmp_path, caplog):
    import datetime as dt

    from sqlalchemy import create_engine, inspect, select, text

    from dropbox import create_app, placements
    from dropbox.models import PlacementCount

    instance = make_instance(tmp_path / "instance")
    app = create_app(config.load(instance), "reporter")
    web = app.test_client()
    try:
        for url in ("/r/demo?src=school-5", "/r/demo?src=school-5&lang=bg", "/r/demo?src=park.north"):
            page = web.get(url)
            assert page.status_code == 200 and "Set-Cookie" not in page.headers  # no cookie, ever
        for url in (
            "/r/demo",
            "/r/demo?src=Ivan%20Petrov",
            "/r/demo?src=" + "x" * 41,
            "/r/nowhere?src=school-5",
        ):
            web.get(url)  # no tag, not a place's tag, a desk that does not exist: not counted
        web.post("/r/demo?src=school-5", data={})  # a report is never counted (or tied to a tag)
        with app.app_context():
            engine = app.extensions["sealdrop.engine"]
            placements.count(engine, "demo", "school-5", dt.date(2026, 1, 1))  # another day: its own row
        engine = create_engine(config.load(instance).database_url)
        with engine.connect() as conn:
            rows = conn.execute(select(PlacementCount.tag, PlacementCount.day, PlacementCount.count)).all()
            today = dt.datetime.now(dt.UTC).date()
            assert sorted(rows) == sorted(
                [("school-5", today, 2), ("park.north", today, 1), ("school-5", dt.date(2026, 1, 1), 1)]
            )
            assert [c["name"] for c in inspect(conn).get_columns("placement_counts")] == [
                "desk_id", "tag", "day", "count"
            ]  # fmt: skip
            for table in inspect(conn).get_table_names():  # the tag is stored nowhere else
                if table != "placement_counts":
                    dumped = repr(conn.execute(text(f'SELECT * FROM "{table}"')).all())
                    assert "school-5" not in dumped and "park.north" not in dumped, table
        engine.dispose()
        assert "school-5" not in caplog.text
    finally:
        app.extensions["sealdrop.engine"].dispose()
