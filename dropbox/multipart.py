"""Parsing a multipart form without compiling a regular expression per request.

Werkzeug's multipart decoder builds two regular expressions around each request's boundary, and every
browser picks a fresh boundary for every form it sends, so Python's pattern cache never helps: compiling
them was about a tenth of a no-JS report's CPU (bench/scale.py). Here the boundary is found with
bytes.find, and only what may follow it (the same rule as Werkzeug's, compiled once) is matched.

`BoundaryDecoder` is Werkzeug's decoder with its two patterns replaced by `BoundarySearch` objects that
answer `search` as the patterns would; tests/dropbox/test_multipart.py checks, on generated and hostile
bodies, that both decoders give the same events. `MemoryFormParser` is the form parser the reporter's
requests use (security.MemoryOnlyRequest): every part in memory, never in a temporary file.
"""

from __future__ import annotations

import re
from typing import IO, Any

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

# What Werkzeug accepts right after "--<boundary>": the closing "--" with optional blanks and line break,
# or blanks and a line break. "Blanks" are whitespace other than CR and LF, as in Werkzeug.
_LINE_BREAK = rb"(?:\r\n|\n|\r)"
_AFTER_BOUNDARY = re.compile(rb"(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (_LINE_BREAK, _LINE_BREAK))
# Werkzeug's own decoder is made with this boundary (its patterns then come from Python's cache) and
# its two patterns replaced; the boundary itself is set to the real one.
_CACHED_BOUNDARY = b"sealdrop"


class _Found:
    """The part of a re.Match the decoder reads: start(), end() and group(1)."""

    __slots__ = ("_end", "_start", "_tail")

    def __init__(self, start: int, end: int, tail: bytes) -> None:
        self._start, self._end, self._tail = start, end, tail

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, number: int) -> bytes:
        if number != 1:
            raise IndexError(number)
        return self._tail


class BoundarySearch:
    """`search(data, pos)` as Werkzeug's pattern `<line break>--<boundary><tail>` would answer it, the
    line break required (between parts) or optional (before the first part)."""

    def __init__(self, boundary: bytes, *, line_break_required: bool) -> None:
        self._dashes = b"--" + boundary
        self._required = line_break_required

    def search(self, data: bytes | bytearray, pos: int = 0) -> _Found | None:
        at = pos
        while (found := data.find(self._dashes, at)) != -1:
            tail = _AFTER_BOUNDARY.match(data, found + len(self._dashes))
            start = _line_break_start(data, found, pos)
            if start is None and not self._required:
                start = found
            if tail is not None and start is not None:
                return _Found(start, tail.end(), tail.group(1))
            at = found + 1
        return None


def _line_break_start(data: bytes | bytearray, found: int, pos: int) -> int | None:
    """Where a line break ending at `found` starts (the leftmost, from `pos` on), or None."""
    if found - 2 >= pos and data[found - 2 : found] == b"\r\n":
        return found - 2
    if found - 1 >= pos and data[found - 1 : found] in (b"\n", b"\r"):
        return found - 1
    return None


class BoundaryDecoder(MultipartDecoder):
    """Werkzeug's MultipartDecoder, its boundary found by BoundarySearch."""

    def __init__(
        self, boundary: bytes, max_form_memory_size: int | None = None, *, max_parts: int | None = None
    ) -> None:
        super().__init__(_CACHED_BOUNDARY, max_form_memory_size, max_parts=max_parts)
        self.boundary = boundary
        self.preamble_re = BoundarySearch(boundary, line_break_required=False)  # type: ignore[assignment]
        self.boundary_re = BoundarySearch(boundary, line_break_required=True)  # type: ignore[assignment]


class MemoryMultiPartParser(MultiPartParser):
    """Fields and files of a multipart body, decoded by BoundaryDecoder; file parts go where the
    stream factory says (MemoryOnlyRequest: memory). Limits as Werkzeug's: max_form_memory_size per
    field, max_form_parts."""

    def parse(
        self, stream: IO[bytes], boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        decoder = BoundaryDecoder(boundary, self.max_form_memory_size, max_parts=self.max_form_parts)
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, FileStorage]] = []
        part: _Part | None = None
        while True:
            chunk = stream.read(self.buffer_size)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, (Epilogue, NeedData)):
                if isinstance(event, (Field, File)):
                    part = _Part(event, self, content_length)
                elif isinstance(event, Data) and part is not None:
                    part.write(event.data, self.max_form_memory_size)
                    if not event.more_data:
                        part.finish(self, fields, files)
                        part = None
                event = decoder.next_event()
            if not chunk:  # the end was told to the decoder: it raised if the form was cut short
                break
        return self.cls(fields), self.cls(files)


class _Part:
    """One part being read: a field's pieces in a list (bounded), a file's in its stream."""

    def __init__(self, event: Field | File, parser: MultiPartParser, content_length: int | None) -> None:
        self.event = event
        self.pieces: list[bytes] = []
        self.size = 0
        self.stream = parser.start_file_streaming(event, content_length) if isinstance(event, File) else None

    def write(self, data: bytes, limit: int | None) -> None:
        if self.stream is not None:
            self.stream.write(data)
            return
        self.size += len(data)
        if limit is not None and self.size > limit:
            raise RequestEntityTooLarge()
        self.pieces.append(data)

    def finish(self, parser: MultiPartParser, fields: list, files: list) -> None:
        if self.stream is None:
            charset = parser.get_part_charset(self.event.headers)
            fields.append((self.event.name, b"".join(self.pieces).decode(charset, "replace")))
            return
        self.stream.seek(0)
        files.append((self.event.name, FileStorage(self.stream, self.event.filename, self.event.name,
                                                   headers=self.event.headers)))  # fmt: skip


class MemoryFormParser(FormDataParser):
    """Werkzeug's form parser with multipart bodies read by MemoryMultiPartParser."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        parser = MemoryMultiPartParser(
            stream_factory=self.stream_factory, max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts, cls=self.cls,
        )  # fmt: skip
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files
