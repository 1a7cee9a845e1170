// ISO BMFF (MP4, MOV, 3GP, M4A) and HEIF/AVIF photos: the JavaScript twin of metadata/bmff.py (read its
// docstring for the why). udta, meta, uuid, XMP_, free/skip/wide and unknown boxes are dropped, the
// times of mvhd/tkhd/mdhd zeroed, timed-metadata tracks removed and their samples zeroed in mdat, and
// every chunk offset, fragment base offset, tfra entry and sidx size moved by one old → new map.
// Photos keep every byte in place but their Exif and XMP items, overwritten by empty ones.
import { CannotClean, finding } from "./source.mjs";

const MAX_MOOV = 64 << 20;
const MAX_FRAGMENT = 16 << 20;
const MAX_FTYP = 4096;
const MAX_READ = 1 << 20;
const MAX_ITEM = 4 << 20;
const MAX_ZEROED = 64 << 20;
const MAX_CHILDREN = 1 << 16; // boxes in one container read into memory
const MAX_TOP = 1 << 18; // top-level boxes
const MAX_ENTRIES = 1 << 22; // chunk offsets in one table, and sample sizes
const MAX_RANGES = 1 << 18; // timed-metadata chunks to zero
const MAX_EXTENTS = 1 << 16; // items and their extents in a HEIF meta box
const ZERO_CHUNK = 1 << 20;
const XMP_UUID = "be7acfcb97a942e89c71999491e3afac";
const EMPTY_EXIF = bytesOf("\0\0\0\x06Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0"); // an Exif item with an empty IFD0
const EMPTY_XMP = bytesOf('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'); // padded with spaces, as XMP packets are
const HEIF_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"]);

const MOOV_KEEP = new Set(["mvhd", "trak", "mvex", "iods", "pssh"]);
const TRAK_KEEP = new Set(["tkhd", "edts", "tref", "mdia", "tapt", "trgr", "load", "txas", "clip", "matt"]);
const MDIA_KEEP = new Set(["mdhd", "hdlr", "minf", "elng"]);
const MINF_KEEP = new Set(["vmhd", "smhd", "hmhd", "nmhd", "sthd", "gmhd", "dinf", "hdlr", "stbl"]);
const STBL_KEEP = new Set(["stsd", "stts", "ctts", "cslg", "stss", "stsh", "sdtp", "stsc", "stsz", "stz2",
  "stco", "co64", "sgpd", "sbgp", "subs", "saiz", "saio", "senc", "stps", "padb"]);
const QUIET = new Set(["free", "skip", "wide"]); // padding: dropped without a finding
const TIMED = new Set(["meta", "camm", "gpmd", "mebx"]); // handlers and sample entries of timed metadata
// Subtitle and timecode tracks, removed like timed metadata (bmff.py's SIDE_TRACKS says why).
const SIDE_TRACKS = new Map([
  ...["text", "sbtl", "subt", "clcp", "tx3g", "wvtt", "stpp", "c608"].map((k) => [k, ["text", "subtitles"]]),
  ["tmcd", ["time", "timecode"]],
]);
const IN_FRAGMENT_METADATA = new Set(["udta", "meta", "uuid", "XMP_"]);
const ITEM_BOXES = new Set(["hdlr", "keys", "iinf", "iloc", "pitm", "iprp", "iref", "idat", "dinf", "ipro", "grpl"]);
const BOX_KINDS = new Map([["prft", "time"], ["PICT", "thumbnail"], ["thum", "thumbnail"], ["thmb", "thumbnail"]]); // dropped unread

const ATOM_KINDS = new Map([
  ["©xyz", "place"], ["loci", "place"],
  ["©mak", "device"], ["©mod", "device"], ["manu", "device"], ["modl", "device"],
  ["©day", "time"], ["yrrc", "time"],
  ["©too", "software"], ["©swr", "software"], ["©enc", "software"],
  ["covr", "thumbnail"],
]); // anything else: other
for (const name of ["©ART", "©aut", "auth", "perf", "aART", "©wrt", "©prd", "©cpy", "cprt", "©dir"]) ATOM_KINDS.set(name, "person");
for (const name of ["©nam", "titl", "dscp", "©cmt", "©des", "desc", "ldes", "©inf", "kywd", "albm", "©alb", "gnre", "©gen", "©lyr"]) {
  ATOM_KINDS.set(name, "text");
}
const KEY_KINDS = [
  ["place", /locat|direction|gps|xyz/i],
  ["device", /make|model|camera|lens|serial/i],
  ["software", /software|encoder/i],
  ["time", /date|time/i],
  ["person", /author|artist|owner|publisher|copyright|displayname/i],
  ["text", /title|descri|comment|keyword|information|name/i],
];
const ASSET_TEXT = new Set(["titl", "auth", "perf", "dscp", "gnre", "albm", "cprt", "kywd"]);
const EXIF_TAGS = {
  0x010f: ["device", "Make"], 0x0110: ["device", "Model"], 0x0131: ["software", "Software"],
  0x0132: ["time", "DateTime"], 0x013b: ["person", "Artist"], 0x8298: ["person", "Copyright"],
  0x010e: ["text", "ImageDescription"], 0x9003: ["time", "DateTimeOriginal"],
  0x9004: ["time", "DateTimeDigitized"], 0xa430: ["person", "CameraOwnerName"],
  0xa431: ["device", "BodySerialNumber"], 0xa433: ["device", "LensMake"], 0xa434: ["device", "LensModel"],
  0xa435: ["device", "LensSerialNumber"], 0x9286: ["text", "UserComment"], 0xa420: ["other", "ImageUniqueID"],
};
const EXIF_IFD = 0x8769;
const GPS_IFD = 0x8825;

function bytesOf(text) {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

const latin = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));
const dv = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const u16 = (bytes, at) => dv(bytes).getUint16(at);
const u32 = (bytes, at) => dv(bytes).getUint32(at);
const u64 = (bytes, at) => Number(dv(bytes).getBigUint64(at));
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A box type as the officer reads it: printable ASCII and ©, anything else "?". */
function boxName(kind) {
  return [...kind].map((ch) => ((ch >= " " && ch <= "~") || ch === "©" ? ch : "?")).join("");
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function plan(source) {
  if (source.size < 8) throw new CannotClean("too short for an ISO BMFF file");
  const first = await topHeader(source, 0);
  if (first.kind === "ftyp") {
    const ftyp = await readBody(source, first, MAX_FTYP);
    if (ftyp.length < 8) throw new CannotClean("an ftyp box without its brands");
    if (HEIF_BRANDS.has(latin(ftyp, 0, 4))) return new Photo(source, first, ftyp).plan();
    return new Movie(source, ftyp).plan(first);
  }
  return new Movie(source, null).plan(first);
}

// -- boxes -----------------------------------------------------------------------------------------

/** The header of the top-level box at pos (size 0: to the end of the file). */
async function topHeader(source, pos) {
  let head = await source.readAt(pos, 8);
  let size = u32(head, 0);
  const kind = latin(head, 4, 8);
  if (size === 1) {
    head = concat([head, await source.readAt(pos + 8, 8)]);
    size = u64(head, 8);
  } else if (size === 0) {
    size = source.size - pos;
  }
  let user = new Uint8Array(0);
  if (kind === "uuid") {
    user = await source.readAt(pos + head.length, 16);
    head = concat([head, user]);
  }
  const body = pos + head.length;
  if (size < body - pos || pos + size > source.size) {
    throw new CannotClean(`the box '${boxName(kind)}' at ${pos} has a size out of bounds`);
  }
  return { kind, start: pos, body, end: pos + size, user, head };
}

async function readBody(source, box, cap) {
  if (box.end - box.body > cap) throw new CannotClean(`the ${boxName(box.kind)} box is larger than we read`);
  return source.readAt(box.body, box.end - box.body);
}

/** A top-level box, header and body. */
async function readWhole(source, box, cap) {
  return concat([box.head, await readBody(source, box, cap)]);
}

/** The box at pos inside data[0:end] (size 0: to the end of its container). */
function boxAt(data, pos, end) {
  if (pos + 8 > end) throw new CannotClean("a box header runs past its container");
  let size = u32(data, pos);
  const kind = latin(data, pos + 4, pos + 8);
  let body = pos + 8;
  if (size === 1) {
    if (body + 8 > end) throw new CannotClean("a box header runs past its container");
    size = u64(data, body);
    body += 8;
  } else if (size === 0) {
    size = end - pos;
  }
  let user = new Uint8Array(0);
  if (kind === "uuid") {
    user = data.slice(body, body + 16);
    body += 16;
  }
  if (size < body - pos || pos + size > end) throw new CannotClean(`the box '${boxName(kind)}' has a size out of bounds`);
  return { kind, start: pos, body, end: pos + size, user };
}

/** The boxes in data[start:end]; up to 7 zero bytes at the end (QuickTime's terminator) pass. */
function children(data, start, end) {
  const out = [];
  let pos = start;
  while (end - pos >= 8) {
    if (out.length === MAX_CHILDREN) throw new CannotClean("too many boxes in one container");
    const box = boxAt(data, pos, end);
    out.push(box);
    pos = box.end;
  }
  if (data.subarray(pos, end).some((b) => b !== 0)) throw new CannotClean("stray bytes after the last box of a container");
  return out;
}

const child = (data, start, end, kind) => children(data, start, end).find((b) => b.kind === kind) ?? null;

function path(data, box, kinds) {
  for (const kind of kinds) {
    box = child(data, box.body, box.end, kind);
    if (box === null) return null;
  }
  return box;
}

/** A meta box is a full box in ISO files, a plain container in QuickTime's: hdlr comes first. */
function metaChildren(data, box) {
  if (box.end - box.body < 12) return [];
  const start = latin(data, box.body + 4, box.body + 8) === "hdlr" ? box.body : box.body + 4;
  return children(data, start, box.end);
}

function need(end, limit, what) {
  if (end > limit) throw new CannotClean(`the ${what} box is cut short`);
}

// -- the offset map --------------------------------------------------------------------------------

const newLength = (part) => {
  if (part.fate === "drop") return 0;
  return part.fate === "moov" ? part.data.length : part.box.end - part.box.start;
};

/** Old file offsets to new ones: monotone, linear inside every box kept at its length. */
function offsetMap(parts, size) {
  const total = parts.reduce((n, p) => n + newLength(p), 0);
  return (old, data = false) => {
    if (old === size && !data) return total;
    let lo = 0;
    let hi = parts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (parts[mid].box.start <= old) lo = mid + 1;
      else hi = mid;
    }
    const part = parts[lo - 1];
    if (!part || old >= part.box.end) throw new CannotClean("an offset points outside the boxes of the file");
    if (part.fate === "copy" || part.fate === "same") return part.newStart + old - part.box.start;
    if (old === part.box.start && !data) return part.newStart;
    if (part.fate === "moov") {
      // a box kept whole inside moov (saio may point at senc there)
      const kept = part.moved[lastAtOrBefore(part.moved, old, ([start]) => start)];
      if (kept && old < kept[1]) return part.newStart + kept[2] + old - kept[0];
    }
    throw new CannotClean(`an offset points into the ${boxName(part.box.kind)} box, which we rewrite`);
  };
}

// -- movies ----------------------------------------------------------------------------------------

class Movie {
  constructor(source, ftyp) {
    Object.assign(this, { source, ftyp, parts: [], found: [], moov: null });
    this.dead = []; // bytes of dropped metadata items, to zero
  }

  async plan(first) {
    let box = first;
    while (box !== null) {
      await this.top(box);
      box = await this.next(box.end);
    }
    if (this.moov === null) throw new CannotClean("no moov box: nothing says how to play the samples");
    const fragmented = this.parts.some((p) => p.box.kind === "moof");
    const movie = new MoovWriter(this.moov.data, this.found, this.moov.box.start);
    this.moov.data = movie.build();
    this.moov.moved = movie.moved.map(([s, e, fresh]) => [this.moov.box.start + s, this.moov.box.start + e, fresh]);
    // its samples live in the fragments, which we keep at their length
    if (movie.removed && (fragmented || movie.fragmented)) throw new CannotClean("a timed-metadata track in a fragmented file");
    const offsets = this.layout();
    movie.patch(offsets);
    for (const part of this.parts) if (part.fate === "same") patchTop(part, offsets);
    return { mime: this.mime(movie), pieces: this.pieces([...movie.zero, ...this.dead]), found: this.found };
  }

  async next(pos) {
    const left = this.source.size - pos;
    if (left === 0) return null;
    if (left < 8) {
      this.found.push(finding("other", "trailing data", `${left} bytes`));
      return null;
    }
    return topHeader(this.source, pos);
  }

  async top(box) {
    if (this.parts.length === MAX_TOP) throw new CannotClean("too many top-level boxes");
    const kind = box.kind;
    if (kind === "ftyp" && box.start === 0) this.parts.push({ box, fate: "copy" });
    else if (kind === "moov") {
      if (this.moov !== null) throw new CannotClean("two moov boxes");
      this.moov = { box, fate: "moov", data: await readWhole(this.source, box, MAX_MOOV) };
      this.parts.push(this.moov);
    } else if (kind === "mdat" || kind === "styp") this.parts.push({ box, fate: "copy" });
    else if (kind === "moof" || kind === "sidx" || kind === "mfra") {
      this.parts.push({ box, fate: "same", data: await readWhole(this.source, box, MAX_FRAGMENT) });
    } else if (kind === "ssix") throw new CannotClean("a subsegment index (ssix), which we do not rewrite");
    else {
      this.parts.push({ box, fate: "drop" });
      await this.dropped(box);
    }
  }

  /** Findings of a top-level box we drop (read only when small). */
  async dropped(box) {
    if (QUIET.has(box.kind)) return;
    if (box.kind === "meta") {
      // read whatever its size: its items may have left bytes in mdat
      const data = await readWhole(this.source, box, MAX_FRAGMENT);
      this.found.push(...boxFindings(data, boxAt(data, 0, data.length), ""));
      this.dead.push(...deadItems(data, boxAt(data, 0, data.length), box.start));
    } else if (box.kind === "udta" && box.end - box.body <= MAX_READ) {
      const data = await readWhole(this.source, box, MAX_READ);
      this.found.push(...boxFindings(data, boxAt(data, 0, data.length), ""));
    } else {
      this.found.push(other(box, ""));
    }
  }

  layout() {
    let at = 0;
    for (const part of this.parts) {
      part.newStart = at;
      at += newLength(part);
    }
    return offsetMap(this.parts, this.source.size);
  }

  pieces(zero) {
    zero = checkZero(mergeRanges(zero), this.parts);
    const pieces = [];
    let first = 0; // both lists are in file order: walk them together
    for (const part of this.parts) {
      if (part.fate === "copy") {
        while (first < zero.length && zero[first][1] <= part.box.start) first += 1;
        let last = first;
        while (last < zero.length && zero[last][0] < part.box.end) last += 1;
        pieces.push(...zeroed(part.box.start, part.box.end, zero.slice(first, last)));
      } else if (part.fate !== "drop") pieces.push(part.data);
    }
    return pieces;
  }

  mime(movie) {
    const major = this.ftyp ? latin(this.ftyp, 0, 4) : "qt  ";
    if (major === "qt  ") return "video/quicktime";
    if (major.startsWith("3gp") || major.startsWith("3g2")) return "video/3gpp";
    if (["M4A ", "M4B ", "M4P "].includes(major) || !movie.video) return "audio/mp4";
    return "video/mp4";
  }
}

function mergeRanges(ranges) {
  const out = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** The ranges to zero that lie in the payload of an mdat we keep (those inside a box we drop go with it);
 * anything else, or too much in all, refuses the file. */
function checkZero(zero, parts) {
  if (zero.reduce((n, [s, e]) => n + e - s, 0) > MAX_ZEROED) throw new CannotClean("too many bytes of timed metadata to overwrite");
  const kept = [];
  for (const [start, end] of zero) {
    const part = parts[Math.max(0, lastAtOrBefore(parts, start, (p) => p.box.start))];
    const box = part.box;
    if (box.kind === "mdat" && box.body <= start && end <= box.end) kept.push([start, end]);
    else if (!(part.fate === "drop" && box.start <= start && end <= box.end)) {
      throw new CannotClean("metadata samples or items outside the media data");
    }
  }
  return kept;
}

/** The index of the last element of `sorted` whose key is at most `value` (-1 when none is). */
function lastAtOrBefore(sorted, value, key = (x) => x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(sorted[mid]) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The file ranges of the Exif and XMP items of a meta box we drop: outside it (in mdat) their bytes would
 * stay behind, unreferenced, so they are zeroed; inside it (idat) they go with it. */
function deadItems(data, meta, base) {
  let items;
  try {
    items = heifItems(data, meta, base);
  } catch (e) {
    if (e instanceof CannotClean || e instanceof RangeError) return []; // no items anyone could find
    throw e;
  }
  const [from, to] = [base + meta.start, base + meta.end];
  return items.flatMap((item) => item.extents.filter(([s, e]) => !(from <= s && e <= to)));
}

/** The range [start, end) as copies, with the zero ranges inside it as zero bytes. */
function zeroed(start, end, zero) {
  const pieces = [];
  let at = start;
  for (let [zs, ze] of zero) {
    if (ze <= at || zs >= end) continue;
    pieces.push({ start: at, end: Math.max(at, zs) });
    zs = Math.max(zs, at);
    const stop = Math.min(ze, end);
    for (let chunk = zs; chunk < stop; chunk += ZERO_CHUNK) pieces.push(new Uint8Array(Math.min(ZERO_CHUNK, stop - chunk)));
    at = stop;
  }
  pieces.push({ start: at, end });
  return pieces.filter((p) => (p instanceof Uint8Array ? p.length : p.end - p.start) > 0);
}

// -- the movie header ------------------------------------------------------------------------------

/** A growable byte buffer for the rebuilt moov. */
class Out {
  constructor() {
    this.bytes = new Uint8Array(4096);
    this.length = 0;
  }

  push(part) {
    if (this.length + part.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + part.length));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(part, this.length);
    this.length += part.length;
  }

  view() {
    return this.bytes.subarray(0, this.length);
  }
}

/** The moov box rebuilt: kept boxes copied, times zeroed, metadata and timed-metadata tracks left out. */
class MoovWriter {
  constructor(data, found, base) {
    // base: the file offset of moov
    Object.assign(this, { data, found, base, out: new Out(), tables: [], zero: [], video: false, fragmented: false });
    this.tracks = 0; // every trak, so `where` names the original's track
    this.kept = 0;
    this.removed = 0;
    this.moved = []; // boxes copied whole: [start, end, where in out]
  }

  build() {
    const moov = boxAt(this.data, 0, this.data.length);
    this.container(moov, "moov", (b, p) => this.moovChild(b, p));
    if (this.kept === 0) throw new CannotClean("no track left to play");
    return this.out.view();
  }

  patch(offsets) {
    const view = dv(this.out.bytes);
    for (const table of this.tables) {
      table.offsets.forEach((old, i) => {
        const fresh = offsets(old, true);
        const at = table.at + i * table.width;
        if (table.width === 4) {
          if (fresh > 0xffffffff) throw new CannotClean("a chunk offset does not fit its table");
          view.setUint32(at, fresh);
        } else {
          view.setBigUint64(at, BigInt(fresh));
        }
      });
    }
  }

  container(box, where, each) {
    const start = this.out.length;
    this.out.push(concat([new Uint8Array(4), bytesOf(box.kind)]));
    for (const sub of children(this.data, box.body, box.end)) each(sub, where);
    dv(this.out.bytes).setUint32(start, this.out.length - start);
  }

  keep(box) {
    this.moved.push([box.start, box.end, this.out.length]);
    this.out.push(this.data.subarray(box.start, box.end));
  }

  drop(box, where) {
    if (!QUIET.has(box.kind)) this.found.push(...boxFindings(this.data, box, where));
    if (box.kind === "meta") this.zero.push(...deadItems(this.data, box, this.base));
  }

  moovChild(box, where) {
    if (box.kind === "mvhd") this.times(box, `${where}/mvhd`);
    else if (box.kind === "trak") this.trak(box, where);
    else if (MOOV_KEEP.has(box.kind)) {
      if (box.kind === "mvex") this.fragmented = true;
      this.keep(box);
    } else if (box.kind === "cmov") throw new CannotClean("a compressed movie header (cmov)");
    else this.drop(box, where);
  }

  trak(box, where) {
    this.tracks += 1;
    const here = `${where}/trak[${this.tracks}]`;
    const [handler, entry] = trackKind(this.data, box);
    const side = SIDE_TRACKS.get(entry) || SIDE_TRACKS.get(handler);
    if (TIMED.has(handler) || TIMED.has(entry) || side) {
      const [kind, label] = side || ["other", "timed metadata"];
      this.found.push(finding(kind, here, `${label} (${boxName(entry || handler)})`));
      this.zero.push(...sampleRanges(this.data, box));
      this.removed += 1;
      return;
    }
    this.kept += 1;
    if (handler === "vide") this.video = true;
    this.container(box, here, (b, p) => this.trakChild(b, p));
  }

  trakChild(box, where) {
    if (box.kind === "tkhd") this.times(box, `${where}/tkhd`);
    else if (box.kind === "mdia") this.container(box, `${where}/mdia`, (b, p) => this.mdiaChild(b, p));
    else if (TRAK_KEEP.has(box.kind)) this.keep(box);
    else this.drop(box, where);
  }

  mdiaChild(box, where) {
    if (box.kind === "mdhd") this.times(box, `${where}/mdhd`);
    else if (box.kind === "minf") this.container(box, `${where}/minf`, (b, p) => this.minfChild(b, p));
    else if (MDIA_KEEP.has(box.kind)) this.keep(box);
    else this.drop(box, where);
  }

  minfChild(box, where) {
    if (box.kind === "stbl") this.container(box, `${where}/stbl`, (b, p) => this.stblChild(b, p));
    else if (MINF_KEEP.has(box.kind)) this.keep(box);
    else this.drop(box, where);
  }

  stblChild(box, where) {
    if (box.kind === "stco" || box.kind === "co64" || box.kind === "saio") {
      // file offsets (saio's too, outside a fragment)
      const [skip, width] = tableShape(this.data, box);
      const at = this.out.length + (box.body - box.start) + skip;
      this.tables.push({ at, width, offsets: chunkOffsets(this.data, box, width) });
      this.keep(box);
    } else if (STBL_KEEP.has(box.kind)) this.keep(box);
    else this.drop(box, where);
  }

  /** Copies mvhd, tkhd or mdhd with its creation and modification times zeroed. */
  times(box, where) {
    const width = box.body < box.end && this.data[box.body] === 1 ? 8 : 4;
    if (box.end - box.body < 4 + 2 * width) throw new CannotClean(`the ${boxName(box.kind)} box is cut short`);
    const read = width === 8 ? u64 : u32;
    const created = read(this.data, box.body + 4);
    const modified = read(this.data, box.body + 4 + width);
    if (created || modified) this.found.push(finding("time", where, macTime(created || modified)));
    const at = this.out.length + (box.body - box.start) + 4;
    this.keep(box);
    this.out.bytes.fill(0, at, at + 2 * width);
  }
}

/** [handler type, first sample entry's format] of a track; "" where absent. */
function trackKind(data, trak) {
  const hdlr = path(data, trak, ["mdia", "hdlr"]);
  const handler = hdlr && hdlr.end - hdlr.body >= 12 ? latin(data, hdlr.body + 8, hdlr.body + 12) : "";
  const stsd = path(data, trak, ["mdia", "minf", "stbl", "stsd"]);
  const entry = stsd && stsd.end - stsd.body >= 16 ? latin(data, stsd.body + 12, stsd.body + 16) : "";
  return [handler, entry];
}

/** [where the entries start in the body, their width] of stco, co64 or saio; the count is just before. */
function tableShape(data, box) {
  if (box.end - box.body < 4) throw new CannotClean(`the ${box.kind} box is cut short`);
  if (box.kind !== "saio") return [8, box.kind === "stco" ? 4 : 8];
  return [u32(data, box.body) & 1 ? 16 : 8, data[box.body] ? 8 : 4];
}

function chunkOffsets(data, box, width) {
  const [skip] = tableShape(data, box);
  if (box.end - box.body < skip) throw new CannotClean(`the ${box.kind} box is cut short`);
  const count = u32(data, box.body + skip - 4);
  if (skip + count * width > box.end - box.body || count > MAX_ENTRIES) {
    throw new CannotClean(`the ${box.kind} box announces more entries than it holds`);
  }
  const read = width === 4 ? u32 : u64;
  return Array.from({ length: count }, (_, i) => read(data, box.body + skip + i * width));
}

/** The byte ranges of a track's samples in the file, chunk by chunk (stco/co64 + stsc + stsz). */
function sampleRanges(data, trak) {
  const stbl = path(data, trak, ["mdia", "minf", "stbl"]);
  if (stbl === null) return [];
  const boxes = Object.create(null);
  for (const b of children(data, stbl.body, stbl.end)) boxes[b.kind] ??= b;
  const table = boxes.stco ?? boxes.co64;
  if (!table) return [];
  const chunks = chunkOffsets(data, table, table.kind === "stco" ? 4 : 8);
  if (!chunks.length) return [];
  if (!boxes.stsc || !boxes.stsz) throw new CannotClean("a timed-metadata track without its sample tables");
  const perChunk = samplesPerChunk(data, boxes.stsc, chunks.length);
  const [fixed, sizes] = sampleSizes(data, boxes.stsz);
  const ranges = [];
  let sample = 0;
  chunks.forEach((offset, i) => {
    const n = perChunk[i];
    let length = 0;
    if (fixed) length = fixed * n;
    else {
      if (sample + n > sizes.length) throw new CannotClean("the sample tables disagree");
      for (let k = sample; k < sample + n; k++) length += sizes[k];
    }
    sample += n;
    if (length) ranges.push([offset, offset + length]);
    if (ranges.length > MAX_RANGES) throw new CannotClean("too many timed-metadata samples to overwrite");
  });
  return ranges;
}

function samplesPerChunk(data, stsc, chunks) {
  const count = stsc.end - stsc.body >= 8 ? u32(data, stsc.body + 4) : 0;
  if (count === 0 || 8 + 12 * count > stsc.end - stsc.body) throw new CannotClean("the stsc box is empty or cut short");
  const runs = Array.from({ length: count }, (_, i) => [u32(data, stsc.body + 8 + 12 * i), u32(data, stsc.body + 12 + 12 * i)]);
  if (runs[0][0] !== 1 || runs.some((r, i) => i > 0 && r[0] <= runs[i - 1][0])) throw new CannotClean("the stsc runs are out of order");
  const out = [];
  runs.forEach(([first, n], i) => {
    const last = i + 1 < runs.length ? runs[i + 1][0] - 1 : chunks;
    for (let c = first; c <= Math.min(last, chunks); c++) out.push(n);
  });
  return out;
}

function sampleSizes(data, stsz) {
  if (stsz.end - stsz.body < 12) throw new CannotClean("the stsz box is cut short");
  const fixed = u32(data, stsz.body + 4);
  const count = u32(data, stsz.body + 8);
  if (fixed) return [fixed, []];
  if (12 + 4 * count > stsz.end - stsz.body) throw new CannotClean("the stsz box announces more samples than it holds");
  return [0, Array.from({ length: count }, (_, i) => u32(data, stsz.body + 12 + 4 * i))];
}

/** A QuickTime time (seconds since 1904) as a date, or the number when it is absurd. */
function macTime(seconds) {
  if (seconds > 8_000_000_000) return String(seconds);
  return new Date(Date.UTC(1904, 0, 1) + seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

// -- fragments -------------------------------------------------------------------------------------

function patchTop(part, offsets) {
  const data = part.data;
  const box = boxAt(data, 0, data.length);
  if (box.kind === "moof") patchMoof(data, box, offsets);
  else if (box.kind === "sidx") patchSidx(data, box, part.box.end, offsets);
  else for (const tfra of children(data, box.body, box.end)) if (tfra.kind === "tfra") patchTfra(data, tfra, offsets);
}

/** A fragment keeps its length; only an explicit base data offset (absolute) moves. */
function patchMoof(data, moof, offsets) {
  for (const box of children(data, moof.body, moof.end)) {
    if (IN_FRAGMENT_METADATA.has(box.kind)) throw new CannotClean("metadata inside a movie fragment");
    if (box.kind !== "traf") continue;
    for (const sub of children(data, box.body, box.end)) {
      if (IN_FRAGMENT_METADATA.has(sub.kind)) throw new CannotClean("metadata inside a track fragment");
      if (sub.kind === "tfhd" && sub.end - sub.body >= 8 && u32(data, sub.body) & 1) {
        need(sub.body + 16, sub.end, "tfhd");
        dv(data).setBigUint64(sub.body + 8, BigInt(offsets(u64(data, sub.body + 8), true)));
      }
    }
  }
}

/** A segment index: its first offset (from its end) and every referenced size, through the map. */
function patchSidx(data, sidx, anchor, offsets) {
  const version = sidx.end > sidx.body ? data[sidx.body] : 0;
  const wide = version ? 8 : 4;
  const head = sidx.body + 12 + 2 * wide;
  need(head + 4, sidx.end, "sidx");
  const firstAt = sidx.body + 12 + wide;
  const first = anchor + (wide === 8 ? u64(data, firstAt) : u32(data, firstAt));
  const count = u16(data, head + 2);
  need(head + 4 + 12 * count, sidx.end, "sidx");
  const newAnchor = offsets(anchor);
  const view = dv(data);
  const value = offsets(first) - newAnchor;
  if (wide === 8) view.setBigUint64(firstAt, BigInt(value));
  else view.setUint32(firstAt, value);
  let at = first;
  for (let i = 0; i < count; i++) {
    const pos = head + 4 + 12 * i;
    const word = u32(data, pos);
    const size = word & 0x7fffffff;
    const fresh = offsets(at + size) - offsets(at);
    view.setUint32(pos, ((word & 0x80000000) | fresh) >>> 0);
    at += size;
  }
}

/** The random-access index of a fragmented file: each entry names a moof by its file offset. */
function patchTfra(data, tfra, offsets) {
  need(tfra.body + 16, tfra.end, "tfra");
  const version = data[tfra.body];
  const sizes = u32(data, tfra.body + 8);
  const extra = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3;
  const wide = version === 1 ? 8 : 4;
  const count = u32(data, tfra.body + 12);
  const step = 2 * wide + extra;
  need(tfra.body + 16 + step * count, tfra.end, "tfra");
  const view = dv(data);
  for (let i = 0; i < count; i++) {
    const at = tfra.body + 16 + step * i + wide;
    if (wide === 8) view.setBigUint64(at, BigInt(offsets(u64(data, at))));
    else view.setUint32(at, offsets(u32(data, at)));
  }
}

// -- findings in metadata boxes --------------------------------------------------------------------

/** A dropped box we do not read: what its type says it is (prft: the wall-clock time of capture). */
function other(box, where) {
  const at = where ? `${where}/${boxName(box.kind)}` : boxName(box.kind);
  if (BOX_KINDS.has(box.kind)) return finding(BOX_KINDS.get(box.kind), at);
  if (box.kind === "uuid") return finding("other", at, hex(box.user) === XMP_UUID ? "XMP" : hex(box.user));
  if (box.kind === "XMP_") return finding("other", at, "XMP");
  return finding("other", at);
}

const join = (where, name) => (where ? `${where}/${name}` : name);

/** What a dropped box held. Its content is parsed leniently: it goes whatever it says. */
function boxFindings(data, box, where) {
  try {
    if (box.kind === "udta") return udtaFindings(data, box, join(where, "udta"));
    if (box.kind === "meta") return metaFindings(data, box, join(where, "meta"));
  } catch (e) {
    if (!(e instanceof CannotClean) && !(e instanceof RangeError)) throw e;
  }
  return [other(box, where)];
}

function udtaFindings(data, udta, where) {
  const found = [];
  for (const box of children(data, udta.body, udta.end)) {
    if (box.kind === "meta") found.push(...metaFindings(data, box, `${where}/meta`));
    else if (box.kind === "XMP_" || box.kind === "uuid") found.push(other(box, where));
    else if (!QUIET.has(box.kind)) {
      const name = boxName(box.kind);
      found.push(finding(ATOM_KINDS.get(name) ?? "other", `${where}/${name}`, atomValue(data, box)));
    }
  }
  return found;
}

const keyKind = (key) => (KEY_KINDS.find(([, pattern]) => pattern.test(key)) ?? ["other"])[0];

/** An iTunes (mdir) or Apple (mdta) metadata box: one finding per item of its ilst. */
function metaFindings(data, meta, where) {
  const boxes = metaChildren(data, meta);
  const keys = keyNames(data, boxes.find((b) => b.kind === "keys") ?? null);
  const found = [];
  for (const box of boxes) {
    if (box.kind === "ilst") {
      for (const item of children(data, box.body, box.end)) {
        const index = u32(data, item.start + 4);
        let name;
        let kind;
        if (keys.length && index >= 1 && index <= keys.length) {
          name = keys[index - 1];
          kind = keyKind(name);
        } else if (item.kind === "----") {
          name = freeformName(data, item);
          kind = keyKind(name);
        } else {
          name = boxName(item.kind);
          kind = ATOM_KINDS.get(name) ?? "other";
        }
        found.push(finding(kind, `${where}/${name}`, atomValue(data, item)));
      }
    } else if (box.kind === "iinf") {
      for (const kind of itemKinds(data, box).values()) found.push(finding("other", `${where}/${kind}`, kind));
    } else if (!ITEM_BOXES.has(box.kind) && !QUIET.has(box.kind)) {
      found.push(other(box, where));
    }
  }
  return found;
}

/** The names of an mdta keys box (each entry: size, namespace, name). */
function keyNames(data, box) {
  if (box === null || box.end - box.body < 8) return [];
  const names = [];
  let pos = box.body + 8;
  const count = Math.min(u32(data, box.body + 4), 4096);
  for (let i = 0; i < count; i++) {
    if (pos + 8 > box.end) break;
    const size = u32(data, pos);
    if (size < 8 || pos + size > box.end) break;
    names.push(new TextDecoder().decode(data.subarray(pos + 8, pos + size)));
    pos += size;
  }
  return names;
}

function freeformName(data, item) {
  const name = child(data, item.body, item.end, "name");
  return name ? text(data.subarray(name.body + 4, name.end)) : "----";
}

/** A short readable value of a metadata atom, as its kind of box stores it. */
function atomValue(data, box) {
  const body = data.subarray(box.body, box.end);
  if (body.length >= 16 && latin(body, 4, 8) === "data") {
    const size = Math.min(u32(body, 0), body.length);
    return body[11] === 0 || body[11] === 1 ? text(body.subarray(16, size)) : "";
  }
  if (box.kind === "loci") return loci(body);
  if (box.kind.startsWith("©") && body.length >= 4) return text(body.subarray(4, 4 + u16(body, 0)));
  if (ASSET_TEXT.has(box.kind) && body.length > 6) return text(body.subarray(6));
  if (box.kind === "yrrc" && body.length >= 6) return String(u16(body, 4));
  return "";
}

/** A 3GPP location: language, name, role, then longitude, latitude, altitude in 16.16 fixed point. */
function loci(body) {
  const end = stringEnd(body, 6);
  if (end + 10 > body.length) return text(body.subarray(6));
  const lon = dv(body).getInt32(end + 2) / 65536;
  const lat = dv(body).getInt32(end + 6) / 65536;
  const sign = (x) => (x < 0 ? "-" : "+") + Math.abs(x).toFixed(4);
  return `${sign(lat)}${sign(lon)} ${text(body.subarray(6, end))}`.trim();
}

function stringEnd(body, start) {
  if ((body[start] === 0xfe && body[start + 1] === 0xff) || (body[start] === 0xff && body[start + 1] === 0xfe)) {
    for (let i = start + 2; i < body.length - 1; i += 2) if (body[i] === 0 && body[i + 1] === 0) return i + 1;
    return body.length;
  }
  const nul = body.indexOf(0, start);
  return nul < 0 ? body.length : nul;
}

function text(raw) {
  raw = raw.subarray(0, 512);
  let decoded;
  if (raw[0] === 0xfe && raw[1] === 0xff) decoded = new TextDecoder("utf-16be").decode(raw.subarray(2));
  else if (raw[0] === 0xff && raw[1] === 0xfe) decoded = new TextDecoder("utf-16le").decode(raw.subarray(2));
  else {
    const nul = raw.indexOf(0);
    decoded = new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul));
  }
  return decoded.split("\0", 1)[0];
}

// -- photos (HEIF, AVIF) ---------------------------------------------------------------------------

/** A HEIF/AVIF picture: its Exif and XMP items overwritten in place, nothing moved. */
class Photo {
  constructor(source, ftyp, brands) {
    Object.assign(this, { source, ftyp, brands, found: [], zero: [] }); // zero: [start, end, replacement] beside meta
    this.boxes = 0;
  }

  async plan() {
    const before = await this.findMeta(this.ftyp.end);
    const box = before.pop();
    const meta = await readWhole(this.source, box, MAX_MOOV);
    const top = boxAt(meta, 0, meta.length);
    const items = heifItems(meta, top, box.start);
    // where the items' bytes are (the picture's among them): starts in order, and how far they reach
    const extents = fileExtents(meta, top).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.extentStarts = extents.map(([s]) => s);
    let reach = 0;
    this.extentReach = extents.map(([, e]) => (reach = Math.max(reach, e)));
    for (const earlier of before) this.blankUnlessItems(earlier);
    const pending = this.overwrite(meta, box, items);
    await this.rest(box.end, pending);
    for (const item of items) this.found.push(...itemFindings(item));
    if (this.zero.reduce((n, [s, e]) => n + e - s, 0) > MAX_ZEROED) throw new CannotClean("the photo's metadata items are too large");
    const replaced = [...this.zero, [box.start, box.end, meta]].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    if (replaced.some((r, i) => i > 0 && r[0] < replaced[i - 1][1])) throw new CannotClean("a photo's metadata items overlap");
    const pieces = [];
    let at = 0;
    for (const [start, end, fresh] of replaced) {
      pieces.push({ start: at, end: start }, fresh);
      at = end;
    }
    pieces.push({ start: at, end: this.source.size });
    return { mime: this.mime(), pieces, found: this.found };
  }

  /** The boxes from pos to the meta box, which comes last. */
  async findMeta(pos) {
    const boxes = [];
    while (pos + 8 <= this.source.size) {
      const box = await this.header(pos);
      boxes.push(box);
      if (box.kind === "meta") return boxes;
      if (!["mdat", "free", "skip", "wide"].includes(box.kind)) throw new CannotClean(`a ${boxName(box.kind)} box before the photo's meta box`);
      pos = box.end;
    }
    throw new CannotClean("a HEIF file without its meta box");
  }

  /** Overwrites the items inside meta (idat) now; returns the extents after it, to read in order. */
  overwrite(meta, box, items) {
    const pending = [];
    for (const item of items) {
      const replacement = replacementFor(item.kind, item.extents.reduce((n, [s, e]) => n + e - s, 0));
      let used = 0;
      for (const [start, end] of item.extents) {
        const fresh = replacement.subarray(used, used + end - start);
        used += end - start;
        if (box.start <= start && end <= box.end) {
          item.content.push(meta.slice(start - box.start, end - box.start));
          meta.set(fresh, start - box.start);
        } else if (start >= box.end) {
          pending.push([start, end, item]);
          this.zero.push([start, end, fresh]);
        } else {
          throw new CannotClean("a photo's metadata item before or across its meta box");
        }
      }
    }
    if (this.zero.reduce((n, [s, e]) => n + e - s, 0) > MAX_ZEROED) throw new CannotClean("the photo's metadata items are too large");
    return pending.sort((a, b) => a[0] - b[0]);
  }

  /** The boxes after meta, header by header, reading the pending items' bytes on the way. */
  async rest(pos, pending) {
    let next = 0; // the first pending extent not read yet
    for (;;) {
      while (next < pending.length && pending[next][0] < pos) {
        const [start, end, item] = pending[next++];
        if (end > pos) throw new CannotClean("a photo's metadata item across two boxes");
        if (item.content.reduce((n, c) => n + c.length, 0) + end - start <= MAX_ITEM) item.content.push(await this.source.readAt(start, end - start));
        else item.unread = true;
      }
      if (pos + 8 > this.source.size) {
        if (next < pending.length) throw new CannotClean("a photo's metadata item outside its boxes");
        return;
      }
      if (next < pending.length && pending[next][0] < pos + 8) throw new CannotClean("a photo's metadata item over a box header");
      const box = await this.header(pos);
      if (box.kind === "moov" || box.kind === "meta") throw new CannotClean(`a second ${box.kind} box in a photo (an image sequence?)`);
      this.blankUnlessItems(box);
      pos = box.end;
    }
  }

  async header(pos) {
    this.boxes += 1;
    if (this.boxes > MAX_TOP) throw new CannotClean("too many top-level boxes");
    return topHeader(this.source, pos);
  }

  /** A box beside meta that holds no item: a decoder never reads it, so its payload is zeroed (uuid, XMP_,
   * a motion photo's video in `mpvd`, old bytes in `free`). */
  blankUnlessItems(box) {
    const before = lastAtOrBefore(this.extentStarts, box.end - 1);
    if (box.kind === "mdat" || (before >= 0 && this.extentReach[before] > box.body)) return;
    if (box.end - box.body > MAX_ZEROED) throw new CannotClean(`a ${boxName(box.kind)} box too large to overwrite`);
    if (!QUIET.has(box.kind)) this.found.push(other(box, ""));
    if (box.end > box.body) this.zero.push([box.body, box.end, new Uint8Array(box.end - box.body)]);
  }

  mime() {
    const compatible = new Set();
    for (let i = 8; i + 4 <= this.brands.length; i += 4) compatible.add(latin(this.brands, i, i + 4));
    const major = latin(this.brands, 0, 4);
    if (major === "avif" || major === "avis" || ((major === "mif1" || major === "msf1") && compatible.has("avif"))) return "image/avif";
    return "image/heic";
  }
}

/** What takes an item's place: an empty Exif block or XMP packet, padded to the same length. */
function replacementFor(kind, length) {
  const [head, pad] = kind === "Exif" ? [EMPTY_EXIF, 0] : [EMPTY_XMP, 0x20];
  if (length < head.length) return new Uint8Array(length);
  const out = new Uint8Array(length).fill(pad);
  out.set(head);
  return out;
}

/** The Exif and XMP items of a meta box `top` in `meta` (whose first byte is at file offset `base`),
 * with their extents in the file. */
function heifItems(meta, top, base) {
  if (top.end - top.body < 4) throw new CannotClean("the meta box is cut short");
  const boxes = Object.create(null);
  for (const box of children(meta, top.body + 4, top.end)) boxes[box.kind] ??= box;
  const kinds = itemKinds(meta, boxes.iinf ?? null);
  if (!kinds.size) return [];
  if (!boxes.iloc) throw new CannotClean("a HEIF meta box without item locations");
  const locations = itemLocations(meta, boxes.iloc);
  const idat = boxes.idat ?? null;
  const items = [];
  for (const [id, kind] of kinds) {
    if (!locations.has(id)) throw new CannotClean("a metadata item without a location");
    let [method, extents] = locations.get(id);
    if (method === 1) {
      if (idat === null) throw new CannotClean("an item in an idat box that is not there");
      extents = extents.map(([s, e]) => [base + idat.body + s, base + idat.body + e]);
      if (extents.some(([, e]) => e > base + idat.end)) throw new CannotClean("an item runs past its idat box");
    } else if (method !== 0) {
      throw new CannotClean("a metadata item built from other items");
    }
    items.push({ kind, extents, content: [] });
  }
  return items;
}

/** The file ranges of every item stored by file offset (construction method 0). */
function fileExtents(meta, top) {
  const iloc = children(meta, top.body + 4, top.end).find((b) => b.kind === "iloc");
  if (!iloc) return [];
  return [...itemLocations(meta, iloc).values()].filter(([method]) => method === 0).flatMap(([, extents]) => extents);
}

/** item_ID → "Exif" or "XMP" for the items that are metadata. */
function itemKinds(meta, iinf) {
  const out = new Map();
  if (iinf === null) return out;
  if (iinf.end - iinf.body < 6) throw new CannotClean("the iinf box is cut short");
  const start = iinf.body + (meta[iinf.body] === 0 ? 6 : 8);
  for (const infe of children(meta, start, iinf.end)) {
    if (infe.kind !== "infe") continue;
    const [id, kind] = infeKind(meta.subarray(infe.body, infe.end));
    if (kind) out.set(id, kind);
  }
  return out;
}

const splitNul = (bytes) => {
  const parts = [];
  let from = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0) {
      parts.push(latin(bytes, from, i));
      from = i + 1;
    }
  }
  return parts;
};

/** [item_ID, "Exif"/"XMP"/""] of an item info entry. */
function infeKind(body) {
  if (body.length < 8) throw new CannotClean("an infe box is cut short");
  const version = body[0];
  if (version < 2) {
    const content = splitNul(body.subarray(6));
    return [u16(body, 4), content.length > 1 && content[1] === "application/rdf+xml" ? "XMP" : ""];
  }
  let id;
  let at;
  if (version === 2) [id, at] = [u16(body, 4), 8];
  else {
    if (body.length < 14) throw new CannotClean("an infe box is cut short");
    [id, at] = [u32(body, 4), 10];
  }
  const type = latin(body, at, at + 4);
  if (type === "Exif") return [id, "Exif"];
  if (type === "mime") {
    const parts = splitNul(body.subarray(at + 4));
    if (parts.length > 1 && parts[1].replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "") === "application/rdf+xml") return [id, "XMP"];
  }
  return [id, ""];
}

/** item_ID → [construction method, [[start, end]]] from an iloc box. */
function itemLocations(meta, iloc) {
  const body = meta.subarray(iloc.body, iloc.end);
  let at = 0;
  const take = (n) => {
    if (at + n > body.length) throw new CannotClean("a box is cut short");
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 256 + body[at + i];
    at += n;
    return value;
  };
  const version = take(1);
  take(3);
  const sizes = take(2);
  const [offsetSize, lengthSize, baseSize] = [sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15];
  const indexSize = version === 1 || version === 2 ? sizes & 15 : 0;
  if ([offsetSize, lengthSize, baseSize, indexSize].some((s) => ![0, 4, 8].includes(s)) || version > 2) {
    throw new CannotClean("an iloc box with field sizes we do not know");
  }
  const count = take(version === 2 ? 4 : 2);
  if (count > MAX_EXTENTS) throw new CannotClean("an iloc box with too many items");
  const out = new Map();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const id = take(version === 2 ? 4 : 2);
    const method = version === 1 || version === 2 ? take(2) & 15 : 0;
    take(2); // data reference index
    const base = take(baseSize);
    const extents = [];
    const n = take(2);
    total += n;
    if (total > MAX_EXTENTS) throw new CannotClean("an iloc box with too many extents");
    for (let k = 0; k < n; k++) {
      take(indexSize);
      const offset = take(offsetSize);
      const length = take(lengthSize);
      if (length === 0) throw new CannotClean("an item extent of unknown length");
      extents.push([base + offset, base + offset + length]);
    }
    out.set(id, [method, extents]);
  }
  return out;
}

function itemFindings(item) {
  if (item.unread) return [finding("other", `meta/${item.kind}`, "too large to read")];
  const data = concat(item.content);
  const ours = replacementFor(item.kind, data.length);
  if (data.every((byte, i) => byte === ours[i])) return []; // what we put there: nothing left to find
  if (item.kind === "XMP") return [finding("other", "meta/XMP", "XMP")];
  if (data.length < 4) return [finding("other", "meta/Exif")];
  let tiff = 4 + u32(data, 0);
  const magic = latin(data, tiff, tiff + 4);
  if (magic !== "MM\0*" && magic !== "II*\0") {
    const window = latin(data, 0, Math.min(64, data.length));
    const mm = window.indexOf("MM\0*", 4);
    tiff = mm >= 0 ? mm : window.indexOf("II*\0", 4);
  }
  const found = tiff >= 0 ? exifFindings(data, tiff) : [];
  return found.length ? found : [finding("other", "meta/Exif")];
}

/** The identifying tags of a TIFF block (IFD0, the Exif IFD, the GPS IFD); lenient: a bad entry ends it. */
function exifFindings(data, tiff) {
  const little = data[tiff] === 0x49 && data[tiff + 1] === 0x49;
  const view = dv(data);
  const found = [];
  try {
    const ifd0 = view.getUint32(tiff + 4, little);
    const entries = ifd(view, tiff, ifd0, little);
    for (const [tag, kind, value] of tagged(data, view, tiff, entries, little)) found.push(finding(kind, `meta/Exif/${EXIF_TAGS[tag][1]}`, value));
    if (entries.has(EXIF_IFD)) {
      const sub = ifd(view, tiff, entries.get(EXIF_IFD)[2], little);
      for (const [tag, kind, value] of tagged(data, view, tiff, sub, little)) found.push(finding(kind, `meta/Exif/${EXIF_TAGS[tag][1]}`, value));
    }
    if (entries.has(GPS_IFD)) found.push(finding("place", "meta/Exif/GPS", gps(view, tiff, entries.get(GPS_IFD)[2], little)));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
  return found;
}

/** tag → [type, count, value or offset] of the IFD at `offset` (from the TIFF header). */
function ifd(view, tiff, offset, little) {
  const at = tiff + offset;
  const count = view.getUint16(at, little);
  const out = new Map();
  for (let i = 0; i < Math.min(count, 512); i++) {
    const entry = at + 2 + 12 * i;
    out.set(view.getUint16(entry, little), [view.getUint16(entry + 2, little), view.getUint32(entry + 4, little), view.getUint32(entry + 8, little)]);
  }
  return out;
}

function tagged(data, view, tiff, entries, little) {
  const out = [];
  for (const [tag, [kind, n, value]] of entries) {
    if (!Object.hasOwn(EXIF_TAGS, tag)) continue;
    let textValue = "";
    if ((kind === 2 || kind === 7) && n) {
      const inline = new Uint8Array(4);
      new DataView(inline.buffer).setUint32(0, value, little);
      const raw = n <= 4 ? inline.subarray(0, n) : data.subarray(tiff + value, tiff + value + Math.min(n, 256));
      const nul = raw.indexOf(0);
      textValue = latin(raw, 0, nul < 0 ? raw.length : nul);
    }
    out.push([tag, EXIF_TAGS[tag][0], textValue]);
  }
  return out;
}

/** Latitude, longitude of a GPS IFD as decimal degrees, or "" when they are not there. */
function gps(view, tiff, offset, little) {
  const entries = ifd(view, tiff, offset, little);
  const coords = [];
  for (const [refTag, tag] of [[1, 2], [3, 4]]) {
    if (!entries.has(tag) || entries.get(tag)[1] !== 3) return "";
    const at = tiff + entries.get(tag)[2];
    let deg = 0;
    for (let i = 0; i < 3; i++) {
      const num = view.getUint32(at + 8 * i, little);
      const den = view.getUint32(at + 8 * i + 4, little);
      if (den) deg += num / den / 60 ** i;
    }
    const inline = new Uint8Array(4);
    if (entries.has(refTag)) new DataView(inline.buffer).setUint32(0, entries.get(refTag)[2], little);
    const ref = entries.has(refTag) ? String.fromCharCode(inline[0]) : "N";
    coords.push(ref === "S" || ref === "W" ? -deg : deg);
  }
  return `${coords[0].toFixed(5)}, ${coords[1].toFixed(5)}`;
}
