// Ogg (Opus, Vorbis, Theora, FLAC-in-Ogg): each stream's comment header emptied in place, padded with
// zeros to its old length so every page keeps its layout; the JavaScript twin of metadata/ogg.py (read
// its docstring for the why). Only the pages carrying a comment get new bytes and a new checksum; a
// Skeleton stream is dropped; any other codec is refused.
import { INVALID, PADDING, SEEKTABLE, STREAMINFO, VORBIS_COMMENT, blockFinding, commentFindings } from "./flac.mjs";
import { CannotClean, concat, finding } from "./source.mjs";

const WINDOW = 256 << 10; // pages are read through a window this large: one read serves many small pages,
const MAX_WINDOW = 4 << 20; // ...doubling to this as the walk goes on (each Blob read is a round trip)
const MAX_REWRITTEN = 8 << 20; // rewritten header pages are new bytes held in memory: at most this many
const MAX_STREAMS = 64;
const MAX_HEAD = 64; // bytes kept of a header packet that is not rewritten, to check what it is
const HEADER_SIZE = 27;
const [CONTINUED, BOS, EOS] = [1, 2, 4];

const bytes = (s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const startsWith = (data, magic) => data.length >= magic.length && magic.every((b, i) => data[i] === b);
const codec = (label, headers, magics, comment, framing = false) => ({ label, headers, magics: magics.map(bytes), comment: bytes(comment), framing });
const CODECS = [
  codec("Vorbis", 3, ["\x01vorbis", "\x03vorbis", "\x05vorbis"], "\x03vorbis\0\0\0\0\0\0\0\0\x01", true),
  codec("Opus", 2, ["OpusHead", "OpusTags"], "OpusTags"),
  codec("Theora", 3, ["\x80theora", "\x81theora", "\x82theora"], "\x81theora"),
  codec("FLAC", 0, ["\x7fFLAC"], ""),
];
const SKELETON = bytes("fishead\0");
const CAPTURE = bytes("OggS");

export async function plan(source) {
  const walk = new Walk(source);
  await walk.run();
  return { mime: walk.video ? "video/ogg" : "audio/ogg", pieces: walk.pieces, found: walk.found };
}

/** Reads front to back through one buffer, as the Python twin must for a forward-only source. */
class Window {
  constructor(source) {
    Object.assign(this, { source, base: 0, buffer: new Uint8Array(0), chunk: WINDOW });
  }

  async read(offset, n) {
    const end = this.base + this.buffer.length;
    const size = this.source.size;
    if (offset + n > end) {
      if (offset + n > size) throw new CannotClean("the file ends inside an Ogg page");
      if (offset >= end) {
        this.buffer = await this.source.readAt(offset, Math.min(Math.max(n, this.chunk), size - offset));
      } else {
        const more = await this.source.readAt(end, Math.min(Math.max(offset + n - end, this.chunk), size - end));
        const joined = new Uint8Array(end - offset + more.length);
        joined.set(this.buffer.subarray(offset - this.base));
        joined.set(more, end - offset);
        this.buffer = joined;
      }
      this.base = offset;
      this.chunk = Math.min(this.chunk * 2, MAX_WINDOW);
    }
    return this.buffer.subarray(offset - this.base, offset - this.base + n);
  }
}

/** One pass over the pages, front to back. */
class Walk {
  constructor(source) {
    Object.assign(this, { source, window: new Window(source), streams: new Map(), pieces: [], found: [], rewritten: 0 });
    this.video = false; // a Theora stream began (in any link of a chain)
  }

  async run() {
    const size = this.source.size;
    let pos = 0;
    while (pos < size) {
      const next = await this.page(pos);
      if (next === null) {
        this.found.push(finding("other", "a page cut short", `${size - pos} bytes`));
        break;
      }
      pos = next;
    }
    const streams = [...this.streams.values()];
    if (!streams.some((s) => s.codec)) throw new CannotClean("an Ogg file without an audio or video stream");
    if (!streams.every((s) => s.done)) throw new CannotClean("an Ogg stream ends inside its headers");
  }

  /** The page at `pos` into the pieces; where the next one starts, or null: it is cut short. */
  async page(pos) {
    const head = await this.window.read(pos, Math.min(HEADER_SIZE + 255, this.source.size - pos)); // the longest lacing too
    if (!head.subarray(0, 4).every((b, i) => b === CAPTURE[i])) throw new CannotClean("bytes that are not an Ogg page");
    if (head.length < HEADER_SIZE) return null;
    const view = new DataView(head.buffer, head.byteOffset, head.length);
    const [version, flags, serial, segments] = [head[4], head[5], view.getUint32(14, true), head[26]];
    if (version !== 0) throw new CannotClean("an Ogg page of an unknown version");
    const start = pos + HEADER_SIZE + segments;
    if (start > this.source.size) return null;
    const lacing = head.slice(HEADER_SIZE, HEADER_SIZE + segments);
    const end = start + lacing.reduce((sum, v) => sum + v, 0);
    if (end > this.source.size) return null;
    let stream = this.streams.get(serial);
    const inHeaders = flags & BOS || (stream !== undefined && !stream.done);
    const page = inHeaders ? (await this.window.read(pos, end - pos)).slice() : new Uint8Array(0); // at most 64 KiB
    stream = this.stream(flags, serial, page.subarray(start - pos, start - pos + 8));
    if (stream.codec === null) {
      // a Skeleton page: dropped
    } else if (stream.done) this.add({ start: pos, end });
    else this.add(this.headerPage(stream, pos, page, flags, lacing));
    stream.ended = Boolean(flags & EOS);
    return end;
  }

  /** The stream a page belongs to; a new one on a first page (`first`: its first packet's start). */
  stream(flags, serial, first) {
    let stream = this.streams.get(serial);
    if (flags & BOS) {
      if (stream !== undefined && !stream.ended) throw new CannotClean("two Ogg streams with one serial number");
      if (this.streams.size >= MAX_STREAMS && stream === undefined) throw new CannotClean("too many Ogg streams");
      stream = this.begin(first);
      this.streams.set(serial, stream);
    } else if (stream === undefined || stream.ended) {
      throw new CannotClean("an Ogg page of a stream that has not begun or has ended");
    }
    return stream;
  }

  begin(first) {
    const fresh = (c) => ({ codec: c, index: 0, packet: null, done: c === null, ended: false });
    if (first.length === SKELETON.length && startsWith(first, SKELETON)) {
      this.found.push(finding("other", "Skeleton"));
      return fresh(null);
    }
    const c = CODECS.find((k) => startsWith(first, k.magics[0]));
    if (!c) throw new CannotClean("an Ogg stream of a codec we cannot clean");
    this.video ||= c.label === "Theora";
    return fresh(c);
  }

  add(piece) {
    const last = this.pieces[this.pieces.length - 1];
    if (!(piece instanceof Uint8Array) && last && !(last instanceof Uint8Array) && last.end === piece.start) {
      this.pieces[this.pieces.length - 1] = { start: last.start, end: piece.end };
    } else this.pieces.push(piece);
  }

  // -- the pages that carry a stream's headers ---------------------------------------------------

  headerPage(stream, pos, page, flags, lacing) {
    const view = new DataView(page.buffer, page.byteOffset, page.length);
    const crc = view.getUint32(22, true);
    view.setUint32(22, 0, true);
    if (crcOf(page) !== crc) throw new CannotClean("an Ogg header page with a bad checksum");
    if (Boolean(flags & CONTINUED) !== (stream.packet !== null)) {
      throw new CannotClean("an Ogg page that does not continue the packet it should");
    }
    let [changed, at, run] = [false, HEADER_SIZE + lacing.length, 0];
    for (let i = 0; i < lacing.length; i++) {
      run += lacing[i];
      if (lacing[i] < 255 || i === lacing.length - 1) {
        changed = this.fragment(stream, page, at, run, lacing[i] < 255) || changed;
        [at, run] = [at + run, 0];
        if (stream.done) break; // the rest of the page is the stream's first audio or video packets
      }
    }
    if (!changed) return { start: pos, end: pos + page.length };
    this.rewritten += page.length;
    if (this.rewritten > MAX_REWRITTEN) throw new CannotClean("Ogg comment headers too large to rewrite");
    view.setUint32(22, crcOf(page), true);
    return page;
  }

  /** One packet's bytes on this page; true when they were rewritten. */
  fragment(stream, page, at, n, complete) {
    const packet = stream.packet ?? this.packet(stream, page.subarray(at, at + n));
    const original = page.slice(at, at + n);
    const keep = packet.rewrite !== null ? original : original.subarray(0, Math.max(0, MAX_HEAD - packet.kept));
    if (packet.rewrite !== null) page.set(newBytes(packet, packet.length, original), at);
    packet.data.push(keep);
    packet.kept += keep.length;
    packet.length += n;
    stream.packet = complete ? null : packet;
    if (complete) this.complete(stream, packet);
    return packet.rewrite !== null;
  }

  /** What becomes of the header packet that starts with `first`. */
  packet(stream, first) {
    const make = (rewrite, keep = [0, 0]) => ({ rewrite, keep, data: [], kept: 0, length: 0 });
    const c = stream.codec;
    if (c.label !== "FLAC" || stream.index === 0) return make(stream.index === 1 ? c.comment : null);
    const kind = first.length ? first[0] & 0x7f : INVALID;
    if (kind === VORBIS_COMMENT) return make(first.slice(0, 1), [1, 4]);
    if (kind === SEEKTABLE) return make(null);
    return make(first.length ? new Uint8Array([(first[0] & 0x80) | PADDING]) : new Uint8Array(0), [1, 4]);
  }

  complete(stream, packet) {
    const c = stream.codec;
    const data = concat(packet.data);
    if (c.label === "FLAC") this.flacPacket(stream, data, packet.length);
    else {
      if (!startsWith(data, c.magics[stream.index])) throw new CannotClean(`an Ogg ${c.label} stream with a broken header`);
      if (stream.index === 1) {
        if (packet.length < c.magics[1].length + 8 + (c.framing ? 1 : 0)) {
          throw new CannotClean(`an Ogg ${c.label} comment header too short`);
        }
        this.found.push(...commentFindings(c.label, data.subarray(c.magics[1].length), c.framing));
      }
      stream.done = stream.index + 1 === c.headers;
    }
    stream.index += 1;
  }

  /** FLAC-in-Ogg: the mapping packet (with STREAMINFO), then one metadata block per packet. */
  flacPacket(stream, data, length) {
    if (stream.index === 0) {
      const magic = String.fromCharCode(...data.subarray(9, 13));
      if (length !== 51 || magic !== "fLaC" || (data[13] & 0x7f) !== STREAMINFO || data[5] !== 1) {
        throw new CannotClean("an Ogg FLAC stream with a broken first header");
      }
      stream.done = Boolean(data[13] & 0x80);
      return;
    }
    const kind = data[0] & 0x7f;
    const size = (data[1] << 16) | (data[2] << 8) | data[3];
    if (length < 4 || size !== length - 4 || kind === STREAMINFO || kind === INVALID) {
      throw new CannotClean("an Ogg FLAC metadata block of a broken size or type");
    }
    if (kind === VORBIS_COMMENT) this.found.push(...commentFindings("FLAC", data.subarray(4)));
    else if (kind === SEEKTABLE && size % 18) throw new CannotClean("an Ogg FLAC SEEKTABLE of a broken size");
    else if (kind !== PADDING && kind !== SEEKTABLE) this.found.push(blockFinding("FLAC/", kind));
    if (stream.index >= 1024) throw new CannotClean("too many Ogg FLAC metadata blocks");
    stream.done = Boolean(data[0] & 0x80);
  }
}

/** Bytes [offset, offset + original.length) of the rewritten packet: its new start, then zeros, with
 *  the original's bytes in `keep` (a FLAC block's length stays the same). */
function newBytes(packet, offset, original) {
  const n = original.length;
  const out = new Uint8Array(n);
  out.set(packet.rewrite.subarray(Math.min(offset, packet.rewrite.length), Math.min(offset + n, packet.rewrite.length)));
  const [lo, hi] = [Math.max(packet.keep[0], offset), Math.min(packet.keep[1], offset + n)];
  if (lo < hi) out.set(original.subarray(lo - offset, hi - offset), lo - offset);
  return out;
}

// Ogg's CRC: polynomial 0x04C11DB7, not reflected, no initial or final inversion.
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

/** The checksum of an Ogg page whose checksum field is zeroed. */
export function crcOf(page) {
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ CRC_TABLE[(crc >>> 24) ^ b]) >>> 0;
  return crc;
}
