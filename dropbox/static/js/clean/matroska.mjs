// Matroska and WebM: the JavaScript twin of metadata/matroska.py (read its docstring for the why).
// Nothing moves: Tags, Attachments, Chapters, Info's Title, DateUTC, UUIDs and file names, a track's
// Name, and unknown elements where metadata lives are overwritten by EBML Void elements of the same
// length; MuxingApp and WritingApp keep their size with NULs; a changed master's CRC-32 is recomputed.
// Clusters are kept byte for byte, walked only when their size is unknown (MediaRecorder).
// Beside this file: _ebml.mjs reads elements, _matroska_tags.mjs says what Tags, Chapters and the
// voided values held, _matroska_private.mjs rewrites the comment headers inside CodecPrivate.
import { CannotClean, finding } from "./source.mjs";
import { CRC32, EBML, VOID, Window, any, children, header, latin1, uint, voidElement } from "./_ebml.mjs";
import { flacPrivate, xiphPrivate } from "./_matroska_private.mjs";
import { chapterFindings, tagFindings, value } from "./_matroska_tags.mjs";

export { voidElement };

const MAX_MASTER = 4 << 20; // SeekHead, Info, Tracks, Tags, Chapters are read whole up to this size
const MAX_HEADER = 4096; // the EBML header
const MAX_NAME = 4096; // an attachment's name, type or description is read up to this size

const SEGMENT = 0x18538067;
const [SEEKHEAD, INFO, TRACKS, CLUSTER, CUES] = [0x114d9b74, 0x1549a966, 0x1654ae6b, 0x1f43b675, 0x1c53bb6b];
const [CHAPTERS, TAGS, ATTACHMENTS] = [0x1043a770, 0x1254c367, 0x1941a469];
const TOP = new Set([SEEKHEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, TAGS, ATTACHMENTS]);
const SEEKABLE = new Set([SEEKHEAD, INFO, TRACKS, CLUSTER, CUES]); // Seek entries to anything else go
const CLUSTER_CHILDREN = new Set([0xe7, 0x5854, 0xa7, 0xab, 0xa3, 0xa0, 0xaf, VOID, CRC32]);
const CUES_CHILDREN = new Set([0xbb, VOID, CRC32]);
const [ATTACHED_FILE, FILE_NAME, FILE_MEDIA_TYPE, FILE_DESCRIPTION] = [0x61a7, 0x466e, 0x4660, 0x467e];
const [SEEK, SEEK_ID, TRACK_ENTRY, TRACK_TYPE, CODEC_ID, CODEC_PRIVATE] = [0x4dbb, 0x53ab, 0xae, 0x83, 0x86, 0x63a2];
const DOC_TYPE = 0x4282;

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

const hexId = (id) => `0x${id.toString(16).toUpperCase()}`;

function cString(bytes) {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
}

export async function plan(source) {
  const walk = new Walk(source);
  await walk.run();
  return walk.plan();
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
