// EBML, the element format under Matroska and WebM (clean/matroska.mjs's readers, as metadata/_ebml.py
// is metadata/matroska.py's): element headers parsed out of a read-ahead window, the children of a
// master held in memory, and the Void element that overwrites one of the same length.
import { CannotClean } from "./source.mjs";

const WINDOW = 1 << 16; // element headers are parsed out of reads this large, not one read each
const MAX_WINDOW = 1 << 20; // ...growing to this while the reads follow each other (a Cluster's blocks)
const MAX_VOID = 16 << 20; // the largest element we overwrite (the Void's zeros are new bytes)

export const [EBML, VOID, CRC32] = [0x1a45dfa3, 0xec, 0xbf]; // EBML's own: the header, Void, CRC-32

// Byte helpers the Matroska modules share.
export const latin1 = (bytes) => String.fromCharCode(...bytes);
export const any = (bytes) => bytes.some((b) => b !== 0);
export const uint = (bytes) => bytes.reduce((n, b) => n * 256 + b, 0);

/** Reads through a read-ahead buffer: many element headers come out of one Blob slice, and a run of
 * reads that follow each other (the blocks of an unknown-size Cluster) takes ever larger slices, as
 * every Blob read costs a round trip; a skip (a known-size Cluster) starts small again. */
export class Window {
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
export function header(data, at) {
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
export function* children(data, lo, hi) {
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
