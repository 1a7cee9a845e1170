"""dropbox/multipart.py decodes exactly as Werkzeug does: the same events from the decoder, the same
fields and files (or the same refusal) from the form parser, on generated, broken and hostile bodies
fed in pieces of any size; and a no-JS report through it files as before."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.multipart import MultipartDecoder, NeedData

from dropbox.multipart import BoundaryDecoder, BoundarySearch, MemoryFormParser

BOUNDARY_CHARS = "abcXYZ0123456789-'()+_,./:=? "
# Bytes that make boundaries and line breaks hard to tell apart.
TRICKY = [
    b"\r\n",
    b"\n",
    b"\r",
    b"--",
    b" ",
    b"\t",
    b"\x0b",
    b"\x00",
    b"\xff",
    b"Content-Disposition: ",
    b'"',
]


def body_of(boundary: bytes, parts: list[tuple[str, bytes, bool]], *, line: bytes = b"\r\n",
            close: bool = True, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:  # fmt: skip
    out = [preamble]
    for name, value, is_file in parts:
        out.append(b"--" + boundary + line)
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if is_file:
            disposition += f'; filename="{name}.jpg"'
        out.append(disposition.encode() + line)
        if is_file:
            out.append(b"Content-Type: image/jpeg" + line)
        out.append(line + value + line)
    if close:
        out.append(b"--" + boundary + b"--" + line + epilogue)
    return b"".join(out)


def events(decoder_class, boundary: bytes, body: bytes, piece: int, **limits) -> list:
    """Every event (or the exception raised) as comparable tuples, the body fed in `piece`-byte pieces."""
    decoder, seen = decoder_class(boundary, **limits), []
    try:
        for at in [*range(0, len(body), piece), None]:
            decoder.receive_data(None if at is None else body[at : at + piece])
            while not isinstance(event := decoder.next_event(), NeedData):
                seen.append((type(event).__name__, *sorted((k, repr(v)) for k, v in vars(event).items())))
                if type(event).__name__ == "Epilogue":
                    break
    except Exception as e:  # the refusal itself is compared
        seen.append(("raised", type(e).__name__, str(e)))
    return seen


values = st.lists(st.one_of(st.sampled_from(TRICKY), st.binary(max_size=12)), max_size=8).map(b"".join)
parts = st.lists(st.tuples(st.sampled_from(["what", "when", "files", "csrf_token"]), values, st.booleans()),
                 max_size=4)  # fmt: skip
boundaries = st.text(BOUNDARY_CHARS, min_size=1, max_size=70).map(str.encode)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boundaries, parts, st.sampled_from([b"\r\n", b"\n", b"\r"]), st.booleans(), values, values,
       st.integers(1, 64))  # fmt: skip
def test_the_same_events_as_werkzeug(boundary, parts, line, close, preamble, epilogue, piece):
    body = body_of(boundary, parts, line=line, close=close, preamble=preamble, epilogue=epilogue)
    assert events(BoundaryDecoder, boundary, body, piece) == events(MultipartDecoder, boundary, body, piece)


@settings(max_examples=300, deadline=None)
@given(boundaries, st.binary(max_size=300), st.integers(1, 64))
def test_the_same_events_on_any_bytes(boundary, body, piece):
    assert events(BoundaryDecoder, boundary, body, piece) == events(MultipartDecoder, boundary, body, piece)


@settings(max_examples=200, deadline=None)
@given(boundaries, st.lists(st.one_of(st.sampled_from(TRICKY), st.just(b"--"), st.binary(max_size=6)),
                            max_size=20).map(b"".join), st.integers(0, 40))  # fmt: skip
def test_search_finds_what_the_pattern_finds(boundary, data, pos):
    import re

    for required, prefix in ((True, rb"(?:\r\n|\n|\r)"), (False, rb"(?:\r\n|\n|\r)?")):
        tail = rb"(--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r))"
        pattern = re.compile(prefix + b"--" + re.escape(boundary) + tail, re.MULTILINE)
        data = data.replace(b"--", b"--" + boundary, 1)  # usually holds the boundary once at least
        want = pattern.search(data, pos)
        got = BoundarySearch(boundary, line_break_required=required).search(data, pos)
        assert (got is None) == (want is None)
        if want is not None:
            assert (got.start(), got.end(), got.group(1)) == (want.start(), want.end(), want.group(1))


def parse(parser_class, body: bytes, boundary: bytes, **limits):
    parser = parser_class(max_form_memory_size=limits.get("memory"), max_form_parts=limits.get("parts"),
                          stream_factory=lambda **_: io.BytesIO())  # fmt: skip
    try:
        _, form, files = parser.parse(io.BytesIO(body), "multipart/form-data",
                                      len(body), {"boundary": boundary.decode()})  # fmt: skip
    except Exception as e:  # the refusal itself is compared
        return ("raised", type(e).__name__, str(e))
    return (sorted(form.items(multi=True)),
            sorted((k, f.filename, f.mimetype, f.read()) for k, f in files.items(multi=True)))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(boundaries, parts, st.booleans(), st.sampled_from([None, 5, 64]), st.sampled_from([None, 2, 200]))
def test_the_same_form_as_werkzeug(boundary, parts, close, memory, max_parts):
    body = body_of(boundary, parts, close=close)
    limits = {"memory": memory, "parts": max_parts}
    assert parse(MemoryFormParser, body, boundary, **limits) == parse(
        FormDataParser, body, boundary, **limits
    )


@pytest.mark.parametrize("size", [1, 7, 65536, 10**6])
def test_a_photo_in_pieces_of_any_size(size):
    """A part larger than a read, and a boundary split between two reads, come out whole."""
    photo = bytes(range(256)) * (size // 256 + 1)
    boundary = b"----geckoformboundary5f2a"
    body = body_of(boundary, [("what", "Что-то случилось".encode(), False), ("files", photo, True)])
    form, files = parse(MemoryFormParser, body, boundary)
    assert form == [("what", "Что-то случилось")]
    assert files == [("files", "files.jpg", "image/jpeg", photo)]


def test_refusals_are_werkzeug_s():
    boundary = b"b"
    cut = body_of(boundary, [("what", b"x" * 100, False)], close=False)
    # A body cut short gives no field at all (the parser is silent, the page then says "bad encoding").
    assert parse(MemoryFormParser, cut, boundary) == parse(FormDataParser, cut, boundary) == ([], [])
    many = body_of(boundary, [("what", b"x", False)] * 5)
    assert parse(MemoryFormParser, many, boundary, parts=3) == parse(FormDataParser, many, boundary, parts=3)
    assert parse(MemoryFormParser, many, boundary, parts=3)[1] == "RequestEntityTooLarge"
    big = body_of(boundary, [("what", b"x" * 100, False)])
    assert parse(MemoryFormParser, big, boundary, memory=10)[1] == "RequestEntityTooLarge"


def test_a_no_js_report_is_parsed_by_it(client):
    """The reporter's requests decode their forms with MemoryFormParser, and a report files."""
    from dropbox import security
    from tests.dropbox.conftest import Reporter

    assert security.MemoryOnlyRequest.form_data_parser_class is MemoryFormParser
    answer = Reporter(client).submit({"what": "Дилър до училището\r\n--boundary-ish line"})
    assert answer.status_code == 200 and b'id="case-number"' in answer.data
