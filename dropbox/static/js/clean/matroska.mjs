// Matroska and WebM: the JavaScript twin of metadata/matroska.py (read its docstring for the why).
// Nothing moves: Tags, Attachments, Chapters, Info's Title, DateUTC, UUIDs and file names, a track's
// Name, and unknown elements where metadata lives are overwritten by EBML Void elements of the same
// length; MuxingApp and WritingApp keep their size with NULs; a changed master's CRC-32 is recomputed.
// Clusters are kept byte for byte, walked only when their size is unknown (MediaRecorder).
import { CannotClean, finding } from "./source.mjs";

const WINDOW = 1 << 16; // element headers are parsed out of reads this large, not one read each
const MAX_WINDOW = 1 << 20; // ...growing to this while the reads follow each other (a Cluster's blocks)
const MAX_MASTER = 4 << 20; // SeekHead, Info, Tracks, Tags, Chapters are read whole up to this size
const MAX_VOID = 16 << 20; // the largest element we overwrite (the Void's zeros are new bytes)
const MAX_HEADER = 4096; // the EBML header
const MAX_NAME = 4096; // an attachment's name, type or description is read up to this size

const [EBML, SEGMENT, VOID, CRC32] = [0x1a45dfa3, 0x18538067, 0xec, 0xbf];
const [SEEKHEAD, INFO, TRACKS, CLUSTER, CUES] = [0x114d9b74, 0x1549a966, 0x1654ae6b, 0x1f43b675, 0x1c53bb6b];
const [CHAPTERS, TAGS, ATTACHMENTS] = [0x1043a770, 0x1254c367, 0x1941a469];
const TOP = new Set([SEEKHEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, TAGS, ATTACHMENTS]);
const SEEKABLE = new Set([SEEKHEAD, INFO, TRACKS, CLUSTER, CUES]); // Seek entries to anything else go
const CLUSTER_CHILDREN = new Set([0xe7, 0x5854, 0xa7, 0xab, 0xa3, 0xa0, 0xaf, VOID, CRC32]);
const CUES_CHILDREN = new Set([0xbb, VOID, CRC32]);
const [TAG, SIMPLE_TAG, TAG_NAME, TAG_STRING, TAG_BINARY] = [0x7373, 0x67c8, 0x45a3, 0x4487, 0x4485];
const CHAPTER_MASTERS = new Set([0x45b9, 0xb6, 0x80, 0x4520]); // EditionEntry, ChapterAtom, ChapterDisplay, EditionDisplay
const CHAPTER_STRINGS = new Set([0x85, 0x4521]); // ChapString, EditionString
const [ATTACHED_FILE, FILE_NAME, FILE_MEDIA_TYPE, FILE_DESCRIPTION] = [0x61a7, 0x466e, 0x4660, 0x467e];
const [SEEK, SEEK_ID, TRACK_ENTRY, TRACK_TYPE, CODEC_ID, CODEC_PRIVATE] = [0x4dbb, 0x53ab, 0xae, 0x83, 0x86, 0x63a2];
const DOC_TYPE = 0x4282;
const EPOCH_MS = Date.UTC(2001, 0, 1); // Matroska dates count nanoseconds from here

// What happens to each child of a master we rewrite (see metadata/matroska.py): keep, ["nul", kind,
// name], ["void", kind, name, how its value reads], ["master", name, rules]; unlisted children are voided.
const KEEP = ["keep"];
const rules = (entries) => new Map(entries);
const EBML_RULES = rules([0x4286, 0x42f7, 0x42f2, 0x42f3, DOC_TYPE, 0x4287, 0x4285].map((id) => [id, KEEP]));
const INFO_RULES = rules([
  [0x2ad7b1, KEEP], [0x4489, KEEP], // TimestampScale, Duration
  [0x4d80, ["nul", "software", "MuxingApp"]], [0x5741, ["nul", "software", "WritingApp"]],
  [0x4461, ["void", "time", "DateUTC", "date"]], [0x7ba9, ["void", "text", "Title", "text"]],
  [0x73a4, ["void", "other", "SegmentUUID", "hex"]], [0x3cb923, ["void", "other", "PrevUUID", "hex"]],
  [0x3eb923, ["void", "other", "NextUUID", "hex"]], [0x4444, ["void", "other", "SegmentFamily", "hex"]],
  [0x7384, ["void", "text", "SegmentFilename", "text"]], [0x3c83ab, ["void", "text", "PrevFilename", "text"]],
  [0x3e83bb, ["void", "text", "NextFilename", "text"]],
]);
const TRACK_KEEP = [
  0xd7, 0x73c5, 0x83, 0xb9, 0x88, 0x55aa, 0x55ab, 0x55ac, 0x55ad, 0x55ae, 0x55af, 0x9c, 0x6de7, 0x6df8,
  0x23e383, 0x234e7a, 0x23314f, 0x537f, 0x55ee, 0x41e4, 0x22b59c, 0x22b59d, 0x86, 0xaa, 0x6fab, 0x56aa,
  0x56bb, 0xe0, 0xe1, 0xe2, 0xc0, 0xc1, 0xc6, 0xc7, 0xc4, 0x6d80,
];
const TRACK_RULES = rules([
  ...TRACK_KEEP.map((id) => [id, KEEP]),
  [CODEC_PRIVATE, ["private"]],
  [0x536e, ["void", "text", "Name", "text"]],
  [0x258688, ["void", "software", "CodecName", "text"]],
  [0x3a9697, ["void", "software", "CodecSettings", "text"]],
  [0x3b4040, ["void", "other", "CodecInfoURL", "text"]],
  [0x26b240, ["void", "other", "CodecDownloadURL", "text"]],
  [0x7446, ["void", "other", "AttachmentLink", "hex"]],
]);
const TRACKS_RULES = rules([[TRACK_ENTRY, ["master", "TrackEntry", TRACK_RULES]]]);
const SEEK_RULES = rules([[SEEK_ID, KEEP], [0x53ac, KEEP]]);
const SEEKHEAD_RULES = rules([[SEEK, ["seek"]]]);
const MASTERS = new Map([[SEEKHEAD, ["SeekHead", SEEKHEAD_RULES]], [INFO, ["Info", INFO_RULES]], [TRACKS, ["Tracks", TRACKS_RULES]]]);

const PLACE = /[+-]\d{1,2}\.\d+[+-]\d{1,3}\.\d+|-?\d{1,2}\.\d{3,}, ?-?\d{1,3}\.\d{3,}/; // ISO 6709, "lat, lon"
const PLACE_NAMES = /LOCAT|GPS|GEO|ISO6709|LATITUDE|LONGITUDE|COORDINATE/;
const PERSON_NAMES = new RegExp(
  "ARTIST|PERFORMER|COMPOSER|ARRANGER|LYRICIST|CONDUCTOR|DIRECTOR|ENGINEER|DESIGNER|ACTOR|CHARACTER" +
    "|WRITTEN|_BY$|PRODUCER|PUBLISHER|LABEL|COPYRIGHT|AUTHOR|OWNER|EMAIL|THANKS|STUDIO|ACCOMPANIMENT",
);
const TIME_NAMES = /DATE|(^|[_.])TIME($|[_.])|TIMESTAMP|^YEAR$/; // not QUICKTIME
const DEVICE_NAMES = /MAKE|MODEL|DEVICE|SERIAL|VENDOR|CAMERA|LENS/;
const SOFTWARE_NAMES = /ENCODER|APP|SOFTWARE|HANDLER|TOOL/;
const OTHER_NAMES = /^(DURATION|BPS|NUMBER_OF_|_STATISTICS)/;
const NAME_BYTE = /[A-Za-z0-9_.-]/;

const latin1 = (bytes) => String.fromCharCode(...bytes);
const hexId = (id) => `0x${id.toString(16).toUpperCase()}`;
const any = (bytes) => bytes.some((b) => b !== 0);
const uint = (bytes) => bytes.reduce((n, b) => n * 256 + b, 0);

export async function plan(source) {
  const walk = new Walk(source);
  await walk.run();
  return walk.plan();
}

/** Reads through a read-ahead buffer: many element headers come out of one Blob slice, and a run of
 * reads that follow each other (the blocks of an unknown-size Cluster) takes ever larger slices, as
 * every Blob read costs a round trip; a skip (a known-size Cluster) starts small again. */
class Window {
  constructor(source) {
    Object.assign(this, { source, start: 0, data: new Uint8Array(0), chunk: WINDOW });
  }

  /** Up to n bytes at pos (fewer where the file ends). */
  async get(pos, n) {
    n = Math.min(n, this.source.size - pos);
    if (n <= 0) return new Uint8Array(0);
    const end = this.start + this.data.length;
    if (this.start <= pos && pos + n <= end) return this.data.subarray(pos - this.start, pos - this.start + n);
    const kept = this.start <= pos && pos < end ? this.data.subarray(pos - this.start) : new Uint8Array(0);
    const following = this.start <= pos && pos <= end + this.chunk; // a skip shorter than a window
    this.chunk = following ? Math.min(this.chunk * 2, MAX_WINDOW) : WINDOW;
    const more = Math.min(Math.max(n, this.chunk) - kept.length, this.source.size - pos - kept.length);
    const data = new Uint8Array(kept.length + more);
    data.set(kept);
    data.set(await this.source.readAt(pos + kept.length, more), kept.length);
    Object.assign(this, { data, start: pos });
    return data.subarray(0, n);
  }

  async exactly(pos, n) {
    const data = await this.get(pos, n);
    if (data.length !== n) throw new CannotClean("the file ends inside a Matroska element");
    return data;
  }
}

/** The length of an EBML variable-size integer from its first byte (9: invalid). */
const width = (first) => Math.clz32(first) - 23;

/** [ID, size or null when unknown, header length] of the element at data[at], or null when the data
 * ends inside the header. Sizes past 2^53 lose precision, but any such size runs past the file. */
function header(data, at) {
  if (at >= data.length) return null;
  const idWidth = width(data[at]);
  if (idWidth > 4) throw new CannotClean("a Matroska element ID longer than 4 bytes");
  if (at + idWidth >= data.length) return null;
  const id = uint(data.subarray(at, at + idWidth));
  const bits = 2 ** (7 * idWidth) - 1;
  if (id % (bits + 1) === bits) throw new CannotClean("a reserved Matroska element ID"); // all ones; all zeros is 0x80, used
  const sizeWidth = width(data[at + idWidth]);
  if (sizeWidth > 8) throw new CannotClean("a Matroska element size longer than 8 bytes");
  if (at + idWidth + sizeWidth > data.length) return null;
  const raw = data.subarray(at + idWidth, at + idWidth + sizeWidth);
  const first = raw[0] & (0xff >> sizeWidth);
  const unknown = first === 0xff >> sizeWidth && raw.subarray(1).every((b) => b === 0xff);
  const size = unknown ? null : uint(raw.subarray(1)) + first * 2 ** (8 * (sizeWidth - 1));
  return [id, size, idWidth + sizeWidth];
}

/** [ID, start, body, end] of each child in data[lo, hi), which must hold them exactly. */
function* children(data, lo, hi) {
  let pos = lo;
  while (pos < hi) {
    const h = header(data, pos);
    if (h === null || h[1] === null || pos + h[2] + h[1] > hi) throw new CannotClean("a Matroska element does not fit in its parent");
    const [id, size, length] = h;
    yield [id, pos, pos + length, pos + length + size];
    pos += length + size;
  }
}

/** An EBML Void element of exactly `total` bytes, with the smallest size field that adds up. */
export function voidElement(total) {
  if (total > MAX_VOID) throw new CannotClean(`a Matroska element of ${total} bytes to remove is too large`);
  for (let w = 1; w <= 8; w++) {
    const body = total - 1 - w;
    if (body >= 0 && body <= 2 ** (7 * w) - 2) {
      const out = new Uint8Array(total);
      out[0] = VOID;
      let value = body + 2 ** (7 * w);
      for (let i = w; i >= 1; i--, value = Math.floor(value / 256)) out[i] = value % 256;
      return out;
    }
  }
  throw new CannotClean("a Matroska element too short to overwrite");
}

/** One pass over the file, front to back: the edits (same-length replacements) and the findings. */
class Walk {
  constructor(source) {
    Object.assign(this, { source, size: source.size, win: new Window(source), edits: [], found: [] });
    Object.assign(this, { docType: "", hasTracks: false, hasVideo: false, outEnd: source.size, codec: "" });
  }

  plan() {
    const pieces = [];
    let at = 0;
    for (const [start, end, bytes] of this.edits) {
      pieces.push({ start: at, end: start }, bytes);
      at = end;
    }
    pieces.push({ start: at, end: this.outEnd });
    const mime = this.docType === "matroska" ? "video/x-matroska" : this.hasVideo ? "video/webm" : "audio/webm";
    return { mime, pieces, found: this.found };
  }

  /** The header at pos, parsed in the window (which ends where the file does, or 12 bytes, the
   * longest header, or more after pos). */
  async header(pos) {
    const win = this.win;
    if (pos < win.start || (pos - win.start + 12 > win.data.length && win.start + win.data.length < this.size)) await win.get(pos, 12);
    return header(win.data, pos - win.start);
  }

  async run() {
    const h = await this.header(0);
    if (h === null || h[0] !== EBML || h[1] === null || h[1] > MAX_HEADER) throw new CannotClean("not a Matroska file: no EBML header");
    const end = await this.master(0, h, "EBML", EBML_RULES);
    if (this.docType !== "webm" && this.docType !== "matroska") throw new CannotClean(`an EBML file of type '${this.docType}', not Matroska or WebM`);
    const pos = await this.topLevel(end);
    if (!this.hasTracks) throw new CannotClean("a Matroska file without Tracks");
    if (pos < this.size) {
      const t = await this.header(pos);
      if (t !== null && (TOP.has(t[0]) || t[0] === EBML || t[0] === SEGMENT)) {
        throw new CannotClean("Matroska elements after the end of the Segment, or a second Segment"); // media, not junk
      }
      this.found.push(finding("other", "trailing data", `${this.size - pos} bytes`));
      this.outEnd = pos;
    }
  }

  /** Voids, then the Segment; where the Segment ends. */
  async topLevel(pos) {
    while (pos < this.size) {
      const h = await this.header(pos);
      if (h !== null && h[0] === VOID && h[1] !== null) {
        pos = await this.rezero(pos, pos + h[2], pos + h[2] + h[1]);
        continue;
      }
      if (h === null || h[0] !== SEGMENT) break;
      const body = pos + h[2];
      return this.segment(body, h[1] === null ? this.size : body + h[1]);
    }
    throw new CannotClean("no Segment after the EBML header");
  }

  /** The Segment's children in order; segEnd may lie past the end of a file cut short. */
  async segment(pos, segEnd) {
    const limit = Math.min(segEnd, this.size);
    while (pos < limit) {
      const h = await this.header(pos);
      if (h === null) return this.size; // cut inside an element header: the few bytes stay
      const [id, size, length] = h;
      if (id === CLUSTER) {
        pos = await this.cluster(pos, size, length, segEnd);
        continue;
      }
      if (size === null) throw new CannotClean(`a Matroska element ${hexId(id)} of unknown size`);
      const end = pos + length + size;
      if (segEnd < end && end <= this.size) throw new CannotClean("a Matroska element runs past the end of its Segment");
      pos = await this.segmentChild(id, pos, pos + length, end);
    }
    return limit;
  }

  async segmentChild(id, start, body, end) {
    if (MASTERS.has(id)) {
      const [name, masterRules] = MASTERS.get(id);
      if (end > this.size) throw new CannotClean(`the file ends inside the Matroska ${name}`);
      if (id === TRACKS) this.hasTracks = true;
      return this.master(start, [id, end - body, body - start], name, masterRules);
    }
    if (id === CUES) return end > this.size ? this.truncated(body, CUES_CHILDREN) : end;
    if (id === VOID) return this.rezero(start, body, end);
    if (id === TAGS) await this.removed(body, end, "Tags", tagFindings);
    else if (id === CHAPTERS) await this.removed(body, end, "Chapters", chapterFindings);
    else if (id === ATTACHMENTS) {
      if (end <= this.size) await this.attachments(body, end);
      else this.found.push(finding("other", "Attachments"));
    } else if (id === EBML || id === SEGMENT) throw new CannotClean("a Matroska Segment inside a Segment");
    else if (id !== CRC32) this.found.push(finding("other", `Segment/${hexId(id)}`)); // a Segment-wide CRC cannot stay
    return this.voidRange(start, end);
  }

  voidRange(start, end) {
    end = Math.min(end, this.size);
    this.edits.push([start, end, voidElement(end - start)]);
    return end;
  }

  /** A Void element's body may hold what an editor left behind: it is zeroed when it is not. */
  async rezero(start, body, end) {
    if (end > this.size || end - body > MAX_MASTER) throw new CannotClean("a Matroska Void element runs past the end of the file or is too large");
    if (any(await this.win.exactly(body, end - body))) this.edits.push([start, end, voidElement(end - start)]);
    return end;
  }

  /** Tags or Chapters, voided by the caller; what they said is read when whole and not too large. */
  async removed(body, end, name, findings) {
    if (end > this.size) this.found.push(finding("other", name, "cut short"));
    else if (end - body > MAX_MASTER) this.found.push(finding("other", name, `${end - body} bytes`));
    else this.found.push(...findings(await this.win.exactly(body, end - body)));
  }

  /** A small master read whole, its children rewritten in place by `masterRules`; where it ends. */
  async master(start, [, size, length], name, masterRules) {
    if (size > MAX_MASTER) throw new CannotClean(`the Matroska ${name} is too large`);
    const body = start + length;
    const data = (await this.win.exactly(body, size)).slice();
    if (this.rewrite(data, 0, size, name, masterRules)) this.edits.push([body, body + size, data]);
    return body + size;
  }

  /** Applies the rules to the children of data[lo, hi); whether anything changed. A CRC-32 first
   * child is recomputed when it did; a CRC-32 anywhere else is voided. */
  rewrite(data, lo, hi, path, masterRules) {
    let changed = false;
    let crcAt = null;
    for (const [id, start, body, end] of [...children(data, lo, hi)]) {
      if (id === CRC32 && start === lo && end - body === 4) crcAt = body;
      else if (id === VOID) {
        if (any(data.subarray(body, end))) {
          data.fill(0, body, end);
          changed = true;
        }
      } else if (id === CRC32) {
        data.set(voidElement(end - start), start);
        changed = true;
      } else if (this.child(data, id, start, body, end, path, masterRules.get(id))) changed = true;
    }
    if (changed && crcAt !== null) new DataView(data.buffer, data.byteOffset).setUint32(crcAt, crc32(data.subarray(crcAt + 4, hi)), true);
    return changed;
  }

  child(data, id, start, body, end, path, rule) {
    if (rule === undefined) {
      this.found.push(finding("other", `${path}/${hexId(id)}`));
      data.set(voidElement(end - start), start);
      return true;
    }
    const action = rule[0];
    if (action === "keep") {
      if (id === DOC_TYPE) this.docType = cString(data.subarray(body, end));
      return false;
    }
    if (action === "master") {
      if (id === TRACK_ENTRY) this.trackEntry(data, body, end);
      return this.rewrite(data, body, end, `${path}/${rule[1]}`, rule[2]);
    }
    if (action === "seek") return this.seek(data, start, body, end, path);
    if (action === "private") return this.codecPrivate(data, body, end);
    const val = value(data.subarray(body, end), action === "void" ? rule[3] : "text");
    if (val) this.found.push(finding(rule[1], `${path}/${rule[2]}`, val));
    if (action === "nul") {
      const changed = any(data.subarray(body, end));
      data.fill(0, body, end);
      return changed;
    }
    data.set(voidElement(end - start), start);
    return true;
  }

  /** A SeekHead entry: kept when it points to an element we keep, voided otherwise. */
  seek(data, start, body, end, path) {
    const target = [...children(data, body, end)].find(([id]) => id === SEEK_ID);
    if (SEEKABLE.has(target ? uint(data.subarray(target[2], target[3])) : 0)) return this.rewrite(data, body, end, `${path}/Seek`, SEEK_RULES);
    data.set(voidElement(end - start), start);
    return true;
  }

  /** The codec (CodecPrivate is read by it) and whether the track is a video. */
  trackEntry(data, lo, hi) {
    this.codec = "";
    for (const [id, , body, end] of children(data, lo, hi)) {
      if (id === CODEC_ID) this.codec = cString(data.subarray(body, end));
      else if (id === TRACK_TYPE && uint(data.subarray(body, end)) === 1) this.hasVideo = true;
      else if (id === 0xe0) this.hasVideo = true; // a Video element
    }
  }

  codecPrivate(data, body, end) {
    if (this.codec === "A_VORBIS" || this.codec === "V_THEORA") return xiphPrivate(data, body, end, this.found);
    if (this.codec === "A_FLAC") return flacPrivate(data, body, end, this.found);
    return false; // OpusHead, avcC, hvcC, vpcC...: how to decode, not who recorded
  }

  /** Where a Cluster ends: one of known size is skipped whole; one of unknown size (MediaRecorder) is
   * walked child by child until an element of the Segment's level begins. */
  async cluster(start, size, length, segEnd) {
    const body = start + length;
    if (size !== null) {
      const end = body + size;
      if (segEnd < end && end <= this.size) throw new CannotClean("a Matroska Cluster runs past the end of its Segment");
      return end <= this.size ? end : this.truncated(body, CLUSTER_CHILDREN);
    }
    return this.unknownSizeCluster(body, segEnd);
  }

  /** The blocks' headers parsed straight out of the window, awaiting only when it must be refilled:
   * a long recording has one block per frame and per 20 ms of sound. */
  async unknownSizeCluster(pos, segEnd) {
    const { win, size } = this;
    const limit = Math.min(segEnd, size);
    while (pos < limit) {
      if (pos - win.start + 12 > win.data.length && win.start + win.data.length < size) await win.get(pos, 12);
      const h = header(win.data, pos - win.start);
      if (h === null) return size;
      const [id, childSize, childLength] = h;
      if (!CLUSTER_CHILDREN.has(id) || childSize === null) {
        if (TOP.has(id) || id === EBML || id === SEGMENT) return pos;
        throw new CannotClean(`a Matroska element ${hexId(id)} inside a Cluster`);
      }
      pos += childLength + childSize;
      if (segEnd < pos && pos <= size) throw new CannotClean("a Matroska Cluster runs past the end of its Segment");
    }
    return Math.min(pos, size);
  }

  /** A Cluster or Cues cut by the end of the file: kept, once its children prove it is only that. */
  async truncated(body, allowed) {
    let pos = body;
    while (pos < this.size) {
      const h = await this.header(pos);
      if (h === null) break;
      if (!allowed.has(h[0]) || h[1] === null) throw new CannotClean(`a Matroska element ${hexId(h[0])} inside a Cluster or Cues`);
      pos += h[2] + h[1];
    }
    return this.size;
  }

  /** Each attached file's name and type as a finding; the data itself is never read. */
  async attachments(body, end) {
    for (let pos = body; pos < end; ) {
      const [id, , childBody, childEnd] = await this.element(pos, end);
      if (id === ATTACHED_FILE) await this.attachedFile(childBody, childEnd);
      pos = childEnd;
    }
  }

  async attachedFile(body, end) {
    const fields = new Map();
    for (let pos = body; pos < end; ) {
      const [id, , childBody, childEnd] = await this.element(pos, end);
      if ((id === FILE_NAME || id === FILE_MEDIA_TYPE || id === FILE_DESCRIPTION) && childEnd - childBody <= MAX_NAME) {
        fields.set(id, value(await this.win.exactly(childBody, childEnd - childBody), "text"));
      }
      pos = childEnd;
    }
    const label = [fields.get(FILE_NAME), fields.get(FILE_MEDIA_TYPE)].filter(Boolean).join(" ");
    this.found.push(finding("other", "Attachments/AttachedFile", label));
    if (fields.get(FILE_DESCRIPTION)) this.found.push(finding("text", "Attachments/FileDescription", fields.get(FILE_DESCRIPTION)));
  }

  /** [ID, start, body, end] of a child that must lie whole inside [pos, end). */
  async element(pos, end) {
    const h = await this.header(pos);
    if (h === null || h[1] === null || pos + h[2] + h[1] > end) throw new CannotClean("a Matroska element does not fit in its parent");
    return [h[0], pos, pos + h[2], pos + h[2] + h[1]];
  }
}

// -- values and findings ----------------------------------------------------------------------------

function cString(bytes) {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
}

function stripNuls(bytes) {
  let [lo, hi] = [0, bytes.length];
  while (lo < hi && bytes[lo] === 0) lo++;
  while (hi > lo && bytes[hi - 1] === 0) hi--;
  return bytes.subarray(lo, hi);
}

/** An element's value as the officer reads it; "" when there is nothing (empty, or all NULs). */
function value(raw, how) {
  const stripped = stripNuls(raw);
  if (stripped.length === 0) return "";
  if (how === "date" && raw.length === 8) {
    const ns = new DataView(raw.buffer, raw.byteOffset).getBigInt64(0);
    let seconds = ns / 1000000000n;
    if (ns % 1000000000n < 0n) seconds -= 1n; // floor, as Python's //
    return new Date(EPOCH_MS + Number(seconds) * 1000).toISOString().slice(0, 19).replace("T", " ");
  }
  if (how === "text") return new TextDecoder().decode(stripped.subarray(0, 256));
  return [...raw.subarray(0, 32)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a tag is about, by its name, or by its value when the name says nothing. */
function tagKind(name, val) {
  name = name.toUpperCase();
  if (PLACE_NAMES.test(name)) return "place";
  if (TIME_NAMES.test(name)) return "time";
  for (const [kind, names] of [["person", PERSON_NAMES], ["device", DEVICE_NAMES], ["software", SOFTWARE_NAMES]]) {
    if (names.test(name)) return kind;
  }
  if (OTHER_NAMES.test(name)) return "other";
  return PLACE.test(val) ? "place" : "text";
}

/** A tag's name as a finding's place: ASCII letters, digits and _.- kept, any other byte "_". */
function whereName(raw) {
  const name = [...stripNuls(raw).subarray(0, 40)].map((b) => (NAME_BYTE.test(String.fromCharCode(b)) ? String.fromCharCode(b) : "_")).join("");
  return name || "?";
}

function tagFindings(data) {
  const found = [];
  for (const [id, , body, end] of children(data, 0, data.length)) {
    if (id !== TAG) continue;
    for (const [childId, , childBody, childEnd] of children(data, body, end)) {
      if (childId === SIMPLE_TAG) simpleTag(data, childBody, childEnd, found);
    }
  }
  return found;
}

function simpleTag(data, lo, hi, found) {
  let [name, val] = ["?", ""];
  for (const [id, , body, end] of children(data, lo, hi)) {
    if (id === TAG_NAME) name = whereName(data.subarray(body, end));
    else if (id === TAG_STRING) val = value(data.subarray(body, end), "text");
    else if (id === TAG_BINARY && end > body) val = `${end - body} bytes`;
    else if (id === SIMPLE_TAG) simpleTag(data, body, end, found);
  }
  if (val) found.push(finding(tagKind(name, val), `Tags/${name}`, val));
}

function chapterFindings(data) {
  const strings = [];
  const walk = (lo, hi) => {
    for (const [id, , body, end] of children(data, lo, hi)) {
      if (CHAPTER_MASTERS.has(id)) walk(body, end);
      else if (CHAPTER_STRINGS.has(id) && value(data.subarray(body, end), "text")) strings.push(value(data.subarray(body, end), "text"));
    }
  };
  walk(0, data.length);
  return [finding("text", "Chapters", strings.join("; "))];
}

// -- comment headers inside CodecPrivate --------------------------------------------------------------

/** Vorbis or Theora: three headers in Xiph lacing; the second (comments) is emptied in place. */
function xiphPrivate(data, lo, hi, found) {
  if (hi - lo < 1 || data[lo] !== 2) throw new CannotClean("a Vorbis or Theora CodecPrivate without its three headers");
  let pos = lo + 1;
  const sizes = [];
  for (let i = 0; i < 2; i++) {
    let size = 0;
    while (pos < hi && data[pos] === 255) [size, pos] = [size + 255, pos + 1];
    if (pos >= hi) throw new CannotClean("a Vorbis or Theora CodecPrivate cut short");
    sizes.push(size + data[pos]);
    pos += 1;
  }
  const start = pos + sizes[0];
  const end = start + sizes[1];
  if (end > hi || sizes[1] === 0) throw new CannotClean("a Vorbis or Theora CodecPrivate cut short");
  const [prefix, framing] = data[start] === 3 ? [[0x03, ..."vorbis"], 1] : [[0x81, ..."theora"], 0];
  const bytes = Uint8Array.from(prefix, (c) => (typeof c === "string" ? c.charCodeAt(0) : c));
  return commentHeader(data, start, end, bytes, framing, "Vorbis comment", found);
}

function u32(data, pos, hi) {
  if (pos + 4 > hi) throw new CannotClean("a comment header cut short");
  return new DataView(data.buffer, data.byteOffset).getUint32(pos, true);
}

/** A Vorbis comment (vendor, then NAME=value pairs) in data[lo, hi) after `prefix`: its findings
 * added, itself replaced by one with no comments and a NUL vendor of the same length. */
function commentHeader(data, lo, hi, prefix, framing, where, found) {
  if (hi - lo < prefix.length + 8 + framing || prefix.some((b, i) => data[lo + i] !== b)) throw new CannotClean(`a malformed ${where} header`);
  let pos = lo + prefix.length;
  const vendorEnd = pos + 4 + u32(data, pos, hi);
  const before = found.length;
  const vendor = value(data.subarray(pos + 4, Math.min(vendorEnd, hi)), "text");
  if (vendor) found.push(finding("software", `${where}/vendor`, vendor));
  pos = vendorEnd;
  const count = u32(data, pos, hi);
  pos += 4;
  if (count > Math.floor((hi - pos) / 4)) throw new CannotClean(`a ${where} header with too many comments`);
  for (let i = 0; i < count; i++) {
    const length = u32(data, pos, hi);
    if (pos + 4 + length > hi) throw new CannotClean(`a ${where} header cut short`);
    const comment = data.subarray(pos + 4, pos + 4 + length);
    const eq = comment.indexOf(0x3d);
    const [name, raw] = eq < 0 ? [comment, new Uint8Array(0)] : [comment.subarray(0, eq), comment.subarray(eq + 1)];
    const val = value(raw, "text");
    if (val) found.push(finding(tagKind(whereName(name), val), `${where}/${whereName(name)}`, val));
    pos += 4 + length;
  }
  if (pos + framing > hi) throw new CannotClean(`a ${where} header cut short`);
  if (found.length === before && count === 0 && pos + framing === hi) return false; // already empty
  const body = hi - lo - prefix.length - 8 - framing;
  data.fill(0, lo, hi);
  data.set(prefix, lo);
  new DataView(data.buffer, data.byteOffset).setUint32(lo + prefix.length, body, true);
  if (framing) data[hi - 1] = 1;
  return true;
}

/** FLAC's "fLaC" and metadata blocks: STREAMINFO and SEEKTABLE stay; every other block becomes PADDING. */
function flacPrivate(data, lo, hi, found) {
  if (latin1(data.subarray(lo, lo + 4)) !== "fLaC") throw new CannotClean("a FLAC CodecPrivate without its fLaC marker");
  let [pos, changed, last] = [lo + 4, false, false];
  while (!last) {
    if (pos + 4 > hi) throw new CannotClean("a FLAC CodecPrivate cut short");
    const kind = data[pos] & 0x7f;
    last = (data[pos] & 0x80) !== 0;
    const [body, end] = [pos + 4, pos + 4 + uint(data.subarray(pos + 1, pos + 4))];
    if (end > hi) throw new CannotClean("a FLAC metadata block runs past its CodecPrivate");
    if (kind === 4) commentHeader(data.slice(body, end), 0, end - body, new Uint8Array(0), 0, "FLAC comment", found);
    else if (kind !== 0 && kind !== 1 && kind !== 3) found.push(finding("other", `FLAC block ${kind}`));
    if (kind !== 0 && kind !== 3 && (kind !== 1 || any(data.subarray(body, end)))) {
      data[pos] = (data[pos] & 0x80) | 1;
      data.fill(0, body, end);
      changed = true;
    }
    pos = end;
  }
  return changed;
}

// -- CRC-32 (IEEE, as zlib computes it), for the CRC-32 elements of the masters we change -------------

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
