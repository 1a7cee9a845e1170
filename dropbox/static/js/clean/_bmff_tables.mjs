// ISO BMFF sample tables (bmff.mjs's readers), the twin of metadata/_bmff_tables.py: a track's kind, its
// chunk offsets (stco, co64, saio) and where its samples lie (stsc, stsz), read from the moov in memory.
import { children, latin, path, u32, u64 } from "./_boxes.mjs";
import { CannotClean } from "./source.mjs";

const MAX_ENTRIES = 1 << 22; // chunk offsets in one table, and sample sizes
const MAX_RANGES = 1 << 18; // timed-metadata chunks to zero

/** [handler type, first sample entry's format] of a track; "" where absent. */
export function trackKind(data, trak) {
  const hdlr = path(data, trak, ["mdia", "hdlr"]);
  const handler = hdlr && hdlr.end - hdlr.body >= 12 ? latin(data, hdlr.body + 8, hdlr.body + 12) : "";
  const stsd = path(data, trak, ["mdia", "minf", "stbl", "stsd"]);
  const entry = stsd && stsd.end - stsd.body >= 16 ? latin(data, stsd.body + 12, stsd.body + 16) : "";
  return [handler, entry];
}

/** [where the entries start in the body, their width] of stco, co64 or saio; the count is just before. */
export function tableShape(data, box) {
  if (box.end - box.body < 4) throw new CannotClean(`the ${box.kind} box is cut short`);
  if (box.kind !== "saio") return [8, box.kind === "stco" ? 4 : 8];
  return [u32(data, box.body) & 1 ? 16 : 8, data[box.body] ? 8 : 4];
}

export function chunkOffsets(data, box, width) {
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
export function sampleRanges(data, trak) {
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
