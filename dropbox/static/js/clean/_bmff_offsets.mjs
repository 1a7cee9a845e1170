// The ISO BMFF rewrite's offsets (bmff.mjs), the twin of metadata/_bmff_offsets.py: the map from old file
// offsets to new ones, the fragments (moof, sidx, mfra/tfra) patched through it, and the ranges zeroed in mdat.
import { MAX_ZEROED, boxAt, boxName, children, dv, lastAtOrBefore, need, u16, u32, u64 } from "./_boxes.mjs";
import { CannotClean } from "./source.mjs";

const ZERO_CHUNK = 1 << 20;
const IN_FRAGMENT_METADATA = new Set(["udta", "meta", "uuid", "XMP_"]);

export const newLength = (part) => {
  if (part.fate === "drop") return 0;
  return part.fate === "moov" ? part.data.length : part.box.end - part.box.start;
};

/** Old file offsets to new ones: monotone, linear inside every box kept at its length. */
export function offsetMap(parts, size) {
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

export function mergeRanges(ranges) {
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
export function checkZero(zero, parts) {
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

/** The range [start, end) as copies, with the zero ranges inside it as zero bytes. */
export function zeroed(start, end, zero) {
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

// -- fragments -------------------------------------------------------------------------------------

export function patchTop(part, offsets) {
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
