// ISO BMFF boxes, the JavaScript twin of metadata/_boxes.py: reading headers and bodies under limits,
// and naming what a dropped box was. Shared by bmff.mjs (movies) and _heif.mjs (photos).
import { CannotClean, concat, finding } from "./source.mjs";

export const MAX_MOOV = 64 << 20;
export const MAX_ZEROED = 64 << 20;
const MAX_CHILDREN = 1 << 16; // boxes in one container read into memory
export const MAX_TOP = 1 << 18; // top-level boxes
const XMP_UUID = "be7acfcb97a942e89c71999491e3afac";
export const QUIET = new Set(["free", "skip", "wide"]); // padding: dropped without a finding
const BOX_KINDS = new Map([["prft", "time"], ["PICT", "thumbnail"], ["thum", "thumbnail"], ["thmb", "thumbnail"]]); // dropped unread

export function bytesOf(text) {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

export const latin = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));
export const dv = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
export const u16 = (bytes, at) => dv(bytes).getUint16(at);
export const u32 = (bytes, at) => dv(bytes).getUint32(at);
export const u64 = (bytes, at) => Number(dv(bytes).getBigUint64(at));
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A box type as the officer reads it: printable ASCII and ©, anything else "?". */
export function boxName(kind) {
  return [...kind].map((ch) => ((ch >= " " && ch <= "~") || ch === "©" ? ch : "?")).join("");
}

/** The header of the top-level box at pos (size 0: to the end of the file). */
export async function topHeader(source, pos) {
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

export async function readBody(source, box, cap) {
  if (box.end - box.body > cap) throw new CannotClean(`the ${boxName(box.kind)} box is larger than we read`);
  return source.readAt(box.body, box.end - box.body);
}

/** A top-level box, header and body. */
export async function readWhole(source, box, cap) {
  return concat([box.head, await readBody(source, box, cap)]);
}

/** The box at pos inside data[0:end] (size 0: to the end of its container). */
export function boxAt(data, pos, end) {
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
export function children(data, start, end) {
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

export const child = (data, start, end, kind) => children(data, start, end).find((b) => b.kind === kind) ?? null;

export function path(data, box, kinds) {
  for (const kind of kinds) {
    box = child(data, box.body, box.end, kind);
    if (box === null) return null;
  }
  return box;
}

/** A meta box is a full box in ISO files, a plain container in QuickTime's: hdlr comes first. */
export function metaChildren(data, box) {
  if (box.end - box.body < 12) return [];
  const start = latin(data, box.body + 4, box.body + 8) === "hdlr" ? box.body : box.body + 4;
  return children(data, start, box.end);
}

export function need(end, limit, what) {
  if (end > limit) throw new CannotClean(`the ${what} box is cut short`);
}

/** The index of the last element of `sorted` whose key is at most `value` (-1 when none is). */
export function lastAtOrBefore(sorted, value, key = (x) => x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(sorted[mid]) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** A dropped box we do not read: what its type says it is (prft: the wall-clock time of capture). */
export function other(box, where) {
  const at = where ? `${where}/${boxName(box.kind)}` : boxName(box.kind);
  if (BOX_KINDS.has(box.kind)) return finding(BOX_KINDS.get(box.kind), at);
  if (box.kind === "uuid") return finding("other", at, hex(box.user) === XMP_UUID ? "XMP" : hex(box.user));
  if (box.kind === "XMP_") return finding("other", at, "XMP");
  return finding("other", at);
}

export function text(raw) {
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
