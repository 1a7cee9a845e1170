"""Matroska and WebM: the tags, titles, dates and attachments blanked out, every byte left in place.

What a maker writes into a Matroska file: Segment/Tags (TITLE, ARTIST, DATE_RECORDED, COMMENT, ENCODER,
LOCATION or ISO6709 coordinates, phone make and model when a MOV was remuxed), Info/Title, Info/DateUTC
(the recording time to the nanosecond), Info/MuxingApp and WritingApp (the software; MediaRecorder in
Chromium writes "Chrome"), TrackEntry/Name (a label someone typed), Attachments (cover art, fonts, any
file), Chapters (titles), segment UUIDs and file names that link a file to its siblings on the phone,
and, for Vorbis, Theora and FLAC tracks, a comment header inside CodecPrivate.

SeekHead and Cues address elements by their offset in the Segment, so nothing moves: what must
go is overwritten by an EBML Void element (ID 0xEC) of exactly the same length, or, for MuxingApp and
WritingApp, which the format requires, its string is overwritten with NULs. Seek entries that pointed to
removed elements are voided too, so no player seeks into a Void. A CRC-32 element heading a master
whose content changed is recomputed (the master is in memory already, and a strict reader keeps its
check). Vorbis/Theora comment headers are rewritten in place as an empty comment of the same length;
FLAC metadata blocks other than STREAMINFO and SEEKTABLE become PADDING. Unknown elements where
metadata lives (the Segment's top level, Info, Tracks, the EBML header) are voided. Void elements already
there are zeroed (an editor that shortened the tags may have left the old ones in a Void), and a CRC-32
over the whole Segment is voided (recomputing it would mean reading every byte of the file).

Kept: the EBML header, SeekHead, Info's TimestampScale and Duration, Tracks (codec, sizes, language,
UIDs), Cues, and the Clusters byte for byte: block data is never parsed (an H.264 stream's own encoder
string in its SEI stays: it names a codec library, not a device or a person). Clusters of unknown size,
as MediaRecorder writes them, are walked child by child through a read-ahead window to find their end;
a file cut inside a Cluster keeps what is there. Python reads strictly forward (a ForwardSource works).
Beside this file: _ebml.py reads elements, _matroska_tags.py says what Tags, Chapters and the voided
values held, _matroska_private.py rewrites the comment headers inside CodecPrivate.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from . import Finding, Plan
from ._ebml import CRC32, EBML, ONES, VOID, _children, _header, _Window, void
from ._matroska_private import _flac_private, _xiph_private
from ._matroska_tags import _chapter_findings, _tag_findings, _value
from ._source import Copy, Piece, Source
from .errors import CannotClean

MAX_MASTER = 4 << 20  # SeekHead, Info, Tracks, Tags, Chapters are read whole up to this size
MAX_HEADER = 4096  # the EBML header
MAX_NAME = 4096  # an attachment's name, type or description is read up to this size

SEGMENT = 0x18538067
SEEKHEAD, INFO, TRACKS, CLUSTER, CUES = 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1F43B675, 0x1C53BB6B
CHAPTERS, TAGS, ATTACHMENTS = 0x1043A770, 0x1254C367, 0x1941A469
TOP = {SEEKHEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, TAGS, ATTACHMENTS}
SEEKABLE = {SEEKHEAD, INFO, TRACKS, CLUSTER, CUES}  # Seek entries to anything else are voided
CLUSTER_CHILDREN = {0xE7, 0x5854, 0xA7, 0xAB, 0xA3, 0xA0, 0xAF, VOID, CRC32}
CUES_CHILDREN = {0xBB, VOID, CRC32}
ATTACHED_FILE, FILE_NAME, FILE_MEDIA_TYPE, FILE_DESCRIPTION = 0x61A7, 0x466E, 0x4660, 0x467E
SEEK, SEEK_ID, TRACK_ENTRY, TRACK_TYPE, CODEC_ID, CODEC_PRIVATE = 0x4DBB, 0x53AB, 0xAE, 0x83, 0x86, 0x63A2
DOC_TYPE = 0x4282

# What happens to each child of a master we rewrite: keep it, NUL its string ("nul", kind, name),
# void it ("void", kind, name, how its value reads), or walk it ("master", name, its own rules).
# A child not listed is voided and reported as "other".
KEEP = ("keep",)
EBML_RULES = {
    0x4286: KEEP, 0x42F7: KEEP, 0x42F2: KEEP, 0x42F3: KEEP, DOC_TYPE: KEEP, 0x4287: KEEP, 0x4285: KEEP,
}  # fmt: skip  # versions, ID and size lengths, DocType; DocTypeExtension and others go
INFO_RULES = {
    0x2AD7B1: KEEP, 0x4489: KEEP,  # TimestampScale, Duration
    0x4D80: ("nul", "software", "MuxingApp"), 0x5741: ("nul", "software", "WritingApp"),
    0x4461: ("void", "time", "DateUTC", "date"), 0x7BA9: ("void", "text", "Title", "text"),
    0x73A4: ("void", "other", "SegmentUUID", "hex"), 0x3CB923: ("void", "other", "PrevUUID", "hex"),
    0x3EB923: ("void", "other", "NextUUID", "hex"), 0x4444: ("void", "other", "SegmentFamily", "hex"),
    0x7384: ("void", "text", "SegmentFilename", "text"), 0x3C83AB: ("void", "text", "PrevFilename", "text"),
    0x3E83BB: ("void", "text", "NextFilename", "text"),
}  # fmt: skip
TRACK_KEEP = (
    0xD7, 0x73C5, 0x83, 0xB9, 0x88, 0x55AA, 0x55AB, 0x55AC, 0x55AD, 0x55AE, 0x55AF, 0x9C, 0x6DE7, 0x6DF8,
    0x23E383, 0x234E7A, 0x23314F, 0x537F, 0x55EE, 0x41E4, 0x22B59C, 0x22B59D, 0x86, 0xAA, 0x6FAB, 0x56AA,
    0x56BB, 0xE0, 0xE1, 0xE2, 0xC0, 0xC1, 0xC6, 0xC7, 0xC4, 0x6D80,
)  # fmt: skip  # number, UID, type, flags, caches, durations, language, codec, Video, Audio, encodings...
TRACK_RULES = {
    **dict.fromkeys(TRACK_KEEP, KEEP),
    CODEC_PRIVATE: ("private",),
    0x536E: ("void", "text", "Name", "text"),
    0x258688: ("void", "software", "CodecName", "text"),
    0x3A9697: ("void", "software", "CodecSettings", "text"),
    0x3B4040: ("void", "other", "CodecInfoURL", "text"),
    0x26B240: ("void", "other", "CodecDownloadURL", "text"),
    0x7446: ("void", "other", "AttachmentLink", "hex"),
}  # fmt: skip
TRACKS_RULES = {TRACK_ENTRY: ("master", "TrackEntry", TRACK_RULES)}
SEEK_RULES = {SEEK_ID: KEEP, 0x53AC: KEEP}
SEEKHEAD_RULES = {SEEK: ("seek",)}
MASTERS = {
    SEEKHEAD: ("SeekHead", SEEKHEAD_RULES),
    INFO: ("Info", INFO_RULES),
    TRACKS: ("Tracks", TRACKS_RULES),
}


def plan(source: Source) -> Plan:
    walk = _Walk(source)
    walk.run()
    return walk.plan()


class _Walk:
    """One pass over the file, front to back: the edits (same-length replacements) and the findings."""

    def __init__(self, source: Source) -> None:
        self.source, self.size, self.win = source, source.size, _Window(source)
        self.edits: list[tuple[int, int, bytes]] = []
        self.found: list[Finding] = []
        self.doc_type, self.has_tracks, self.has_video, self.out_end = "", False, False, source.size
        self.codec = ""

    def plan(self) -> Plan:
        pieces: list[Piece] = []
        at = 0
        for start, end, new in self.edits:
            pieces += [Copy(at, start), new]
            at = end
        pieces.append(Copy(at, self.out_end))
        if self.doc_type == "matroska":
            mime = "video/x-matroska"
        else:
            mime = "video/webm" if self.has_video else "audio/webm"
        return Plan(mime, pieces, self.found)

    def header(self, pos: int) -> tuple[int, int | None, int] | None:
        """The header at pos, parsed in the window (which ends only where the file does, or at least
        12 bytes, the longest header, after pos)."""
        win = self.win
        at = pos - win.start
        if at < 0 or (at + 12 > len(win.data) and win.start + len(win.data) < self.size):
            win.get(pos, 12)
            at = 0
        return _header(win.data, at)

    def run(self) -> None:
        h = self.header(0)
        if h is None or h[0] != EBML or h[1] is None or h[1] > MAX_HEADER:
            raise CannotClean("not a Matroska file: no EBML header")
        end = self.master(0, h, "EBML", EBML_RULES)
        if self.doc_type not in ("webm", "matroska"):
            raise CannotClean(f"an EBML file of type {self.doc_type!r}, not Matroska or WebM")
        pos = self.top_level(end)
        if not self.has_tracks:
            raise CannotClean("a Matroska file without Tracks")
        if pos < self.size:
            h = self.header(pos)
            if h is not None and (h[0] in TOP or h[0] in (EBML, SEGMENT)):  # media, not junk: keep it whole
                raise CannotClean("Matroska elements after the end of the Segment, or a second Segment")
            self.found.append(Finding("other", "trailing data", f"{self.size - pos} bytes"))
            self.out_end = pos

    def top_level(self, pos: int) -> int:
        """Voids, then the Segment; where the Segment ends."""
        while pos < self.size:
            h = self.header(pos)
            if h is not None and h[0] == VOID and h[1] is not None:
                pos = self.rezero(pos, pos + h[2], pos + h[2] + h[1])
                continue
            if h is None or h[0] != SEGMENT:
                raise CannotClean("no Segment after the EBML header")
            body = pos + h[2]
            seg_end = self.size if h[1] is None else body + h[1]
            return self.segment(body, seg_end)
        raise CannotClean("no Segment after the EBML header")

    def segment(self, pos: int, seg_end: int) -> int:
        """The Segment's children in order; seg_end may lie past the end of a file cut short."""
        limit = min(seg_end, self.size)
        while pos < limit:
            h = self.header(pos)
            if h is None:
                return self.size  # cut inside an element header: the few bytes stay
            eid, size, length = h
            if eid == CLUSTER:
                pos = self.cluster(pos, size, length, seg_end)
                continue
            if size is None:
                raise CannotClean(f"a Matroska element 0x{eid:X} of unknown size")
            end = pos + length + size
            if seg_end < end <= self.size:
                raise CannotClean("a Matroska element runs past the end of its Segment")
            pos = self.segment_child(eid, pos, pos + length, end)
        return limit

    def segment_child(self, eid: int, start: int, body: int, end: int) -> int:
        if eid in MASTERS:
            name, rules = MASTERS[eid]
            if end > self.size:
                raise CannotClean(f"the file ends inside the Matroska {name}")
            self.has_tracks |= eid == TRACKS
            return self.master(start, (eid, end - body, body - start), name, rules)
        if eid == CUES:
            return self.truncated(body, CUES_CHILDREN) if end > self.size else end
        if eid == VOID:
            return self.rezero(start, body, end)
        if eid == TAGS:
            self.removed(body, end, "Tags", _tag_findings)
        elif eid == CHAPTERS:
            self.removed(body, end, "Chapters", _chapter_findings)
        elif eid == ATTACHMENTS:
            if end <= self.size:
                self.attachments(body, end)
            else:
                self.found.append(Finding("other", "Attachments"))
        elif eid in (EBML, SEGMENT):
            raise CannotClean("a Matroska Segment inside a Segment")
        elif eid != CRC32:  # a CRC over the whole Segment cannot be kept once anything changed
            self.found.append(Finding("other", f"Segment/0x{eid:X}"))
        return self.void_range(start, end)

    def void_range(self, start: int, end: int) -> int:
        end = min(end, self.size)
        self.edits.append((start, end, void(end - start)))
        return end

    def rezero(self, start: int, body: int, end: int) -> int:
        """A Void element's body may hold what an editor left behind: it is zeroed when it is not."""
        if end > self.size or end - body > MAX_MASTER:
            raise CannotClean("a Matroska Void element runs past the end of the file or is too large")
        if any(self.win.exactly(body, end - body)):
            self.edits.append((start, end, void(end - start)))
        return end

    def removed(self, body: int, end: int, name: str, findings: Callable) -> None:
        """Tags or Chapters, voided by the caller; what they said is read for the officer when the
        element is whole and not too large."""
        if end > self.size:
            self.found.append(Finding("other", name, "cut short"))
        elif end - body > MAX_MASTER:
            self.found.append(Finding("other", name, f"{end - body} bytes"))
        else:
            self.found.extend(findings(self.win.exactly(body, end - body)))

    def master(self, start: int, h: tuple[int, int | None, int], name: str, rules: dict) -> int:
        """A small master read whole, its children rewritten in place by `rules`; where it ends."""
        _, size, length = h
        assert size is not None
        if size > MAX_MASTER:
            raise CannotClean(f"the Matroska {name} is too large")
        body = start + length
        data = bytearray(self.win.exactly(body, size))
        if self.rewrite(data, 0, size, name, rules):
            self.edits.append((body, body + size, bytes(data)))
        return body + size

    def rewrite(self, data: bytearray, lo: int, hi: int, path: str, rules: dict) -> bool:
        """Applies `rules` to the children of data[lo:hi]; whether anything changed. A CRC-32 first
        child is recomputed over the rest when it did; a CRC-32 anywhere else is voided."""
        changed, crc_at = False, None
        for eid, start, body, end in list(_children(data, lo, hi)):
            if eid == CRC32 and start == lo and end - body == 4:
                crc_at = body
            elif eid == VOID:
                if any(data[body:end]):
                    data[body:end] = bytes(end - body)
                    changed = True
            elif eid == CRC32:
                data[start:end] = void(end - start)
                changed = True
            else:
                changed |= self.child(data, eid, start, body, end, path, rules.get(eid))
        if changed and crc_at is not None:
            data[crc_at : crc_at + 4] = struct.pack("<I", zlib.crc32(data[crc_at + 4 : hi]))
        return changed

    def child(self, data: bytearray, eid: int, start: int, body: int, end: int, path: str, rule) -> bool:
        if rule is None:
            self.found.append(Finding("other", f"{path}/0x{eid:X}"))
            data[start:end] = void(end - start)
            return True
        action = rule[0]
        if action == "keep":
            if eid == DOC_TYPE:
                self.doc_type = data[body:end].split(b"\0", 1)[0].decode("latin-1")
            return False
        if action == "master":
            if eid == TRACK_ENTRY:
                self.track_entry(data, body, end)
            return self.rewrite(data, body, end, f"{path}/{rule[1]}", rule[2])
        if action == "seek":
            return self.seek(data, start, body, end, path)
        if action == "private":
            return self.codec_private(data, body, end)
        value = _value(bytes(data[body:end]), rule[3] if action == "void" else "text")
        if value:
            self.found.append(Finding(rule[1], f"{path}/{rule[2]}", value))
        if action == "nul":
            changed = any(data[body:end])
            data[body:end] = bytes(end - body)
            return changed
        data[start:end] = void(end - start)
        return True

    def seek(self, data: bytearray, start: int, body: int, end: int, path: str) -> bool:
        """A SeekHead entry: kept when it points to an element we keep, voided otherwise."""
        entries = list(_children(data, body, end))  # all of them, so a malformed entry is refused
        target = next((data[b:e] for eid, _, b, e in entries if eid == SEEK_ID), b"")
        if int.from_bytes(target, "big") in SEEKABLE:
            return self.rewrite(data, body, end, f"{path}/Seek", SEEK_RULES)
        data[start:end] = void(end - start)
        return True

    def track_entry(self, data: bytearray, lo: int, hi: int) -> None:
        """The codec (CodecPrivate is read by it) and whether the track is a video."""
        self.codec = ""
        for eid, _, body, end in _children(data, lo, hi):
            if eid == CODEC_ID:
                self.codec = data[body:end].split(b"\0", 1)[0].decode("latin-1")
            elif eid == TRACK_TYPE:
                self.has_video |= int.from_bytes(data[body:end], "big") == 1
            elif eid == 0xE0:  # a Video element
                self.has_video = True

    def codec_private(self, data: bytearray, body: int, end: int) -> bool:
        if self.codec in ("A_VORBIS", "V_THEORA"):
            return _xiph_private(data, body, end, self.found)
        if self.codec == "A_FLAC":
            return _flac_private(data, body, end, self.found)
        return False  # OpusHead, avcC, hvcC, vpcC...: how to decode, not who recorded

    def cluster(self, start: int, size: int | None, length: int, seg_end: int) -> int:
        """Where a Cluster ends. One of known size is skipped whole; one of unknown size (MediaRecorder)
        is walked child by child until an element of the Segment's level begins."""
        body = start + length
        if size is not None:
            end = body + size
            if seg_end < end <= self.size:
                raise CannotClean("a Matroska Cluster runs past the end of its Segment")
            return end if end <= self.size else self.truncated(body, CLUSTER_CHILDREN)
        return self.unknown_size_cluster(body, seg_end)

    def unknown_size_cluster(self, pos: int, seg_end: int) -> int:
        """The blocks' headers parsed straight out of the window: a long recording has one block per
        frame and per 20 ms of sound, so this loop is the cleaner's cost on such a file (self.header
        inlined, and a short SimpleBlock's header read without _header: a third faster)."""
        win, size = self.win, self.size
        limit = min(seg_end, size)
        while pos < limit:
            data, at = win.data, pos - win.start
            if at + 12 > len(data) and win.start + len(data) < size:
                win.get(pos, 12)
                data, at = win.data, 0
            if at + 12 <= len(data) and data[at] == 0xA3 and data[at + 1] & 0xC0:  # SimpleBlock < 16 KiB
                first = data[at + 1]
                clen, csize = (2, first & 0x7F) if first & 0x80 else (3, (first & 0x3F) << 8 | data[at + 2])
                if csize == ONES[clen - 1]:
                    raise CannotClean("a Matroska block of unknown size")
            else:
                h = _header(data, at)
                if h is None:
                    return size
                eid, csize, clen = h
                if eid not in CLUSTER_CHILDREN or csize is None:
                    if eid in TOP or eid in (EBML, SEGMENT):
                        return pos
                    raise CannotClean(f"a Matroska element 0x{eid:X} inside a Cluster")
            pos += clen + csize
            if seg_end < pos <= size:
                raise CannotClean("a Matroska Cluster runs past the end of its Segment")
        return min(pos, size)

    def truncated(self, body: int, allowed: set[int]) -> int:
        """A Cluster or Cues cut by the end of the file: kept as it is, once its children prove it is
        only that (a wrong size that swallowed the elements after it would hide them from the walk)."""
        pos = body
        while pos < self.size:
            h = self.header(pos)
            if h is None:
                break
            if h[0] not in allowed or h[1] is None:
                raise CannotClean(f"a Matroska element 0x{h[0]:X} inside a Cluster or Cues")
            pos += h[2] + h[1]
        return self.size

    def attachments(self, body: int, end: int) -> None:
        """Each attached file's name and type as a finding; the data itself is never read."""
        pos = body
        while pos < end:
            eid, _, cbody, cend = self.element(pos, end)
            if eid == ATTACHED_FILE:
                self.attached_file(cbody, cend)
            pos = cend

    def attached_file(self, body: int, end: int) -> None:
        fields: dict[int, str] = {}
        pos = body
        while pos < end:
            eid, _, cbody, cend = self.element(pos, end)
            if eid in (FILE_NAME, FILE_MEDIA_TYPE, FILE_DESCRIPTION) and cend - cbody <= MAX_NAME:
                fields[eid] = _value(self.win.exactly(cbody, cend - cbody), "text")
            pos = cend
        label = " ".join(v for v in (fields.get(FILE_NAME), fields.get(FILE_MEDIA_TYPE)) if v)
        self.found.append(Finding("other", "Attachments/AttachedFile", label))
        if fields.get(FILE_DESCRIPTION):
            self.found.append(Finding("text", "Attachments/FileDescription", fields[FILE_DESCRIPTION]))

    def element(self, pos: int, end: int) -> tuple[int, int, int, int]:
        """(ID, start, body, end) of a child that must lie whole inside [pos, end)."""
        h = self.header(pos)
        if h is None or h[1] is None or pos + h[2] + h[1] > end:
            raise CannotClean("a Matroska element does not fit in its parent")
        return h[0], pos, pos + h[2], pos + h[2] + h[1]
