// ISO BMFF (MP4, MOV, 3GP, M4A) and HEIF/AVIF photos: the JavaScript twin of metadata/bmff.py (read its
// docstring for the why). udta, meta, uuid, XMP_, free/skip/wide and unknown boxes are dropped, the
// times of mvhd/tkhd/mdhd zeroed, timed-metadata tracks removed and their samples zeroed in mdat, and
// every chunk offset, fragment base offset, tfra entry and sidx size moved by one old → new map.
// Photos keep every byte in place but their Exif and XMP items, overwritten by empty ones.
// Split as the Python is: _boxes.mjs reads boxes, _bmff_tables.mjs the sample tables, _bmff_offsets.mjs
// moves offsets, _bmff_findings.mjs says what was dropped, _heif.mjs cleans the photos.
import { checkZero, mergeRanges, newLength, offsetMap, patchTop, zeroed } from "./_bmff_offsets.mjs";
import { boxFindings, deadItems, macTime } from "./_bmff_findings.mjs";
import { chunkOffsets, sampleRanges, tableShape, trackKind } from "./_bmff_tables.mjs";
import {
  MAX_MOOV, MAX_TOP, QUIET, boxAt, boxName, bytesOf, children, dv, latin, other, readBody, readWhole,
  topHeader, u32, u64,
} from "./_boxes.mjs";
import { Photo } from "./_heif.mjs";
import { CannotClean, concat, finding } from "./source.mjs";

const MAX_FRAGMENT = 16 << 20;
const MAX_FTYP = 4096;
const MAX_READ = 1 << 20;
const HEIF_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"]);

const MOOV_KEEP = new Set(["mvhd", "trak", "mvex", "iods", "pssh"]);
const TRAK_KEEP = new Set(["tkhd", "edts", "tref", "mdia", "tapt", "trgr", "load", "txas", "clip", "matt"]);
const MDIA_KEEP = new Set(["mdhd", "hdlr", "minf", "elng"]);
const MINF_KEEP = new Set(["vmhd", "smhd", "hmhd", "nmhd", "sthd", "gmhd", "dinf", "hdlr", "stbl"]);
const STBL_KEEP = new Set(["stsd", "stts", "ctts", "cslg", "stss", "stsh", "sdtp", "stsc", "stsz", "stz2",
  "stco", "co64", "sgpd", "sbgp", "subs", "saiz", "saio", "senc", "stps", "padb"]);
const TIMED = new Set(["meta", "camm", "gpmd", "mebx"]); // handlers and sample entries of timed metadata
// Subtitle and timecode tracks, removed like timed metadata (bmff.py's SIDE_TRACKS says why).
const SIDE_TRACKS = new Map([
  ...["text", "sbtl", "subt", "clcp", "tx3g", "wvtt", "stpp", "c608"].map((k) => [k, ["text", "subtitles"]]),
  ["tmcd", ["time", "timecode"]],
]);

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
