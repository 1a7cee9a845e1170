// Comment headers inside a Matroska track's CodecPrivate (clean/matroska.mjs), as
// metadata/_matroska_private.py rewrites them: Vorbis and Theora comments emptied in place, FLAC
// metadata blocks other than STREAMINFO and SEEKTABLE turned into PADDING; what they said, as findings.
import { CannotClean, finding } from "./source.mjs";
import { any, latin1, uint } from "./_ebml.mjs";
import { tagKind, value, whereName } from "./_matroska_tags.mjs";

/** Vorbis or Theora: three headers in Xiph lacing; the second (comments) is emptied in place. */
export function xiphPrivate(data, lo, hi, found) {
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
export function flacPrivate(data, lo, hi, found) {
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
