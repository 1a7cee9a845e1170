// HEIF/AVIF photos, the twin of metadata/heif.py: the Exif and XMP items overwritten in place by empty ones
// of the same length, nothing moved. bmff.mjs hands it files whose brand is a photo's.
import {
  MAX_MOOV, MAX_TOP, MAX_ZEROED, QUIET, boxAt, boxName, bytesOf, children, dv, lastAtOrBefore, latin, other,
  readWhole, topHeader, u16, u32,
} from "./_boxes.mjs";
import { CannotClean, concat, finding } from "./source.mjs";

const MAX_ITEM = 4 << 20;
const MAX_EXTENTS = 1 << 16; // items and their extents in a HEIF meta box
const EMPTY_EXIF = bytesOf("\0\0\0\x06Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0"); // an Exif item with an empty IFD0
const EMPTY_XMP = bytesOf('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'); // padded with spaces, as XMP packets are

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

/** A HEIF/AVIF picture: its Exif and XMP items overwritten in place, nothing moved. */
export class Photo {
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
export function heifItems(meta, top, base) {
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
export function itemKinds(meta, iinf) {
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
