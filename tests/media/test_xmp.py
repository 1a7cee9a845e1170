"""XMP packets are described by what their properties say (metadata/xmp.py), in attribute and element
form, and a packet with nothing about its maker is still one finding: it is dropped all the same."""

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from metadata import images, xmp

PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0"><rdf:RDF><rdf:Description rdf:about=""'
    b' exif:GPSLatitude="42,41.58N" exif:GPSLongitude="23,19.31E" tiff:Make="Apple"'
    b' tiff:Model="iPhone 15 Pro" tiff:Orientation="1">'
    b"<xmp:CreateDate>2026-11-30T17:04:12</xmp:CreateDate><xmp:CreatorTool>17.1</xmp:CreatorTool>"
    b"<dc:creator>Ivan Petrov</dc:creator><dc:title>Bridge</dc:title>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def test_properties_by_what_they_say():
    found = {(f.kind, f.where, f.value) for f in xmp.findings(PACKET)}
    assert found == {
        ("place", "XMP/exif:GPSLatitude", "42,41.58N"),
        ("place", "XMP/exif:GPSLongitude", "23,19.31E"),
        ("device", "XMP/tiff:Make", "Apple"),
        ("device", "XMP/tiff:Model", "iPhone 15 Pro"),
        ("time", "XMP/xmp:CreateDate", "2026-11-30T17:04:12"),
        ("software", "XMP/xmp:CreatorTool", "17.1"),
        ("person", "XMP/dc:creator", "Ivan Petrov"),
        ("text", "XMP/dc:title", "Bridge"),
    }


def test_a_packet_about_nothing_is_still_named():
    (f,) = xmp.findings(b'<x:xmpmeta><rdf:Description tiff:Orientation="1"/></x:xmpmeta>')
    assert (f.kind, f.where) == ("other", "XMP")


def test_a_picture_s_xmp_and_icc_are_findings():
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG", xmp=PACKET, icc_profile=b"\0" * 128)
    kinds = {(f.kind, f.where) for f in images.findings(out.getvalue())}
    assert ("place", "XMP/exif:GPSLatitude") in kinds and ("other", "ICC") in kinds


@given(st.binary(max_size=2048))
def test_any_bytes_give_findings_and_never_raise(data):
    assert xmp.findings(data)
