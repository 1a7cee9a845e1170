// MP3 and ADTS AAC: the tags before the first frame (ID3v2) and after the last (APEv2, Lyrics3, an
// appended ID3v2, ID3v1 and "TAG+") are dropped, the frames kept; the JavaScript twin of
// metadata/mp3.py, line for line (read its docstring for the why). A FLAC file behind an ID3v2 tag
// goes to flac.mjs, as in Python.
import { CannotClean, finding } from "./source.mjs";

const MAX_TAG = 16 << 20; // an ID3v2 tag larger than this is dropped without reading its frames
const TAIL = 2 << 20; // the end tags must fit in the last 2 MiB
// Python's \d is any Unicode decimal digit, and its IGNORECASE folds Unicode: \p{Nd} and the u flag.
export const PLACE = /[+-]\p{Nd}{1,2}\.\p{Nd}+[+-]\p{Nd}{1,3}\.\p{Nd}+|-?\p{Nd}{1,2}\.\p{Nd}{3,}, ?-?\p{Nd}{1,3}\.\p{Nd}{3,}/u;
const PLACE_NAMES = /locat|gps|geo|latitude|longitude/iu;
const V22 = new Map(Object.entries({
  TT2: "TIT2", TP1: "TPE1", TP2: "TPE2", TYE: "TYER", TDA: "TDAT", COM: "COMM",
  PIC: "APIC", GEO: "GEOB", TSS: "TSSE", TEN: "TENC", TXX: "TXXX", ULT: "USLT",
}));
const kinds = (names, kind) => names.map((n) => [n, kind]);
const ID3_KINDS = new Map([
  ...kinds(["TPE1", "TPE2", "TPE3", "TPE4", "TCOM", "TEXT", "TOLY", "TOPE", "TOWN", "TPUB", "TCOP"], "person"),
  ...kinds(["TDRC", "TYER", "TDAT", "TIME", "TDRL", "TDEN", "TDTG", "TDOR", "TORY", "TRDA"], "time"),
  ...kinds(["TSSE", "TENC"], "software"),
  ...kinds(["COMM", "USLT", "SYLT"], "text"),
]); // other T... frames are text, anything else (APIC, GEOB, PRIV, W...) other
const APE_KINDS = new Map([
  ...kinds(["artist", "album artist", "composer", "conductor", "publisher", "copyright"], "person"),
  ...kinds(["year", "record date", "date"], "time"),
  ...kinds(["encoder", "tool", "tool name", "encoded by"], "software"),
]);

const text = (bytes) => String.fromCharCode(...bytes); // a few bytes: a magic, a frame id
/** Any number of bytes as Latin-1 (a spread of millions of arguments would overflow the stack). */
function latin1(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return out;
}
const equals = (bytes, from, to, s) => from >= 0 && to <= bytes.length && to - from === s.length && text(bytes.subarray(from, to)) === s;
const decoders = Object.fromEntries(["utf-8", "utf-16le", "utf-16be"].map((e) => [e, new TextDecoder(e, { ignoreBOM: true })]));
const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0"; // what Python's str.strip() removes in Latin-1

export async function plan(source) {
  const found = [];
  const [start, first] = await frontTags(source, found);
  if (start + 4 > source.size) throw new CannotClean("no audio frame after the ID3 tags");
  const head = new Uint8Array(4);
  head.set(first);
  head.set(await source.readAt(start + first.length, 4 - first.length), first.length);
  if (text(head) === "fLaC") {
    // a FLAC file behind an ID3v2 tag: sniff calls it mp3 by its first bytes
    const { planBlocks } = await import("./flac.mjs");
    return planBlocks(source, start + 4, found);
  }
  const mime = frameMime(head);
  if (mime === null) throw new CannotClean("the audio does not start with an MP3 or ADTS frame");
  const end = await tailTags(source, start + 4, found);
  return { mime, pieces: [{ start, end }], found };
}

/** Where the audio starts, after the ID3v2 tags at the front (their frames added to `found`), and the
 *  bytes of it already read to look for one more tag (Python's forward-only source cannot go back). */
async function frontTags(source, found) {
  let pos = 0;
  while (pos + 10 <= source.size) {
    const magic = await source.readAt(pos, 3);
    if (!equals(magic, 0, 3, "ID3")) return [pos, magic];
    const head = new Uint8Array(10);
    head.set(magic);
    head.set(await source.readAt(pos + 3, 7), 3);
    const length = id3Length(head);
    if (pos + length > source.size) throw new CannotClean("an ID3v2 tag runs past the end of the file");
    if (length - 10 <= MAX_TAG) found.push(...id3Frames(head, await source.readAt(pos + 10, syncsafe(head.subarray(6, 10)))));
    else found.push(finding("other", "ID3v2"));
    pos += length;
  }
  return [pos, new Uint8Array(0)];
}

/** The whole tag: header, body (syncsafe size) and, in ID3v2.4, a footer. */
function id3Length(head) {
  if (head[3] === 0xff || head[4] === 0xff || head.subarray(6, 10).some((b) => b & 0x80)) {
    throw new CannotClean("an ID3v2 header with an invalid version or size");
  }
  const footer = head[3] >= 4 && head[5] & 0x10 ? 10 : 0;
  return 10 + syncsafe(head.subarray(6, 10)) + footer;
}

const syncsafe = (b) => (b[0] & 0x7f) * 2 ** 21 + ((b[1] & 0x7f) << 14) + ((b[2] & 0x7f) << 7) + (b[3] & 0x7f);

/** audio/mpeg for an MPEG audio frame header, audio/aac for an ADTS one, null for anything else. */
function frameMime(h) {
  if (h[0] !== 0xff || (h[1] & 0xe0) !== 0xe0) return null;
  if (((h[1] >> 1) & 3) === 0) return (h[1] & 0xf0) === 0xf0 && ((h[2] >> 2) & 0xf) <= 12 ? "audio/aac" : null;
  if (((h[1] >> 3) & 3) === 1 || h[2] >> 4 === 15 || ((h[2] >> 2) & 3) === 3) return null;
  return "audio/mpeg";
}

// -- the end of the file -------------------------------------------------------------------------

/** Where the audio ends, before the tags at the end; `floor` is the first byte they may use. */
export async function tailTags(source, floor, found) {
  const base = Math.max(floor, source.size - TAIL);
  const window = await source.readAt(base, source.size - base);
  let end = window.length; // in the window
  for (let i = 0; ; i++) {
    if (i === 32) throw new CannotClean("too many tags at the end of the file");
    const start = tagBefore(window, end, found);
    if (start === null) break;
    if (start < 0) throw new CannotClean("a tag at the end of the file is too large or overlaps the audio");
    end = start;
  }
  return base + beforeCutTag(window, end, found);
}

/** Where the audio ends when a copy broke off inside a final ID3v1 tag (see mp3.py). */
function beforeCutTag(w, end, found) {
  const from = Math.max(0, end - 127);
  let at = -1;
  for (let i = end - 3; i >= from; i--) {
    if (equals(w, i, i + 3, "TAG")) {
      at = i;
      break;
    }
  }
  if (at < 0) return end;
  const rest = w.subarray(at + 3, end);
  const nul = rest.indexOf(0);
  found.push(finding("text", "ID3v1 (cut short)", latin1(rest.subarray(0, nul < 0 ? rest.length : nul))));
  return at;
}

/** Where the tag that ends at `end` starts (negative: before the window), or null for no tag. */
function tagBefore(w, end, found) {
  if (end >= 128 && equals(w, end - 128, end - 125, "TAG")) {
    found.push(...id3v1(w.subarray(end - 128, end)));
    if (end >= 355 && equals(w, end - 355, end - 351, "TAG+")) {
      found.push(...id3v1Extended(w.subarray(end - 355, end - 128)));
      return end - 355;
    }
    return end - 128;
  }
  if (end >= 32 && equals(w, end - 32, end - 24, "APETAGEX")) return ape(w, end, found);
  if (end >= 15 && equals(w, end - 9, end, "LYRICS200")) {
    const digits = w.subarray(end - 15, end - 9);
    if (!digits.every((b) => b >= 0x30 && b <= 0x39)) throw new CannotClean("a Lyrics3v2 block with an invalid size");
    const start = end - 15 - Number(text(digits));
    if (start < 0 || !equals(w, start, start + 11, "LYRICSBEGIN")) return -1;
    found.push(finding("text", "Lyrics3v2"));
    return start;
  }
  if (end >= 9 && equals(w, end - 9, end, "LYRICSEND")) {
    const start = rfind(w, "LYRICSBEGIN", Math.max(0, end - 5100 - 9), end - 9);
    if (start >= 0) found.push(finding("text", "Lyrics3"));
    return start;
  }
  if (end >= 20 && equals(w, end - 10, end - 7, "3DI")) {
    const start = end - id3Length(w.subarray(end - 10, end));
    if (start < 0 || !equals(w, start, start + 3, "ID3")) return -1;
    found.push(...id3Frames(w.subarray(start, start + 10), w.subarray(start + 10, end - 10)));
    return start;
  }
  return null;
}

/** The last index i in [lo, hi - s.length] where `s` starts, as Python's bytes.rfind(s, lo, hi); or -1. */
function rfind(w, s, lo, hi) {
  for (let i = hi - s.length; i >= lo; i--) if (equals(w, i, i + s.length, s)) return i;
  return -1;
}

/** An APEv2 tag (or APEv1, the same footer) ending at `end`: its start, its items as findings. */
function ape(w, end, found) {
  const view = new DataView(w.buffer, w.byteOffset, w.length);
  const [size, count, flags] = [view.getUint32(end - 20, true), view.getUint32(end - 16, true), view.getUint32(end - 12, true)];
  if (size < 32) throw new CannotClean("an APE tag with an invalid size");
  const start = end - size - (flags & 0x80000000 ? 32 : 0);
  if (start < 0) return -1;
  let pos = end - size;
  for (let i = 0; i < Math.min(count, 10000); i++) {
    if (pos + 8 > end - 32) break;
    const [length, itemFlags] = [view.getUint32(pos, true), view.getUint32(pos + 4, true)];
    const at = w.subarray(pos + 8, end - 32).indexOf(0);
    if (at < 0) break;
    const nul = pos + 8 + at;
    const key = whereName(w.subarray(pos + 8, nul));
    const value = w.subarray(nul + 1, nul + 1 + Math.min(length, 256));
    const binary = (itemFlags & 6) !== 0;
    const v = binary ? "" : decoders["utf-8"].decode(value);
    const kind = APE_KINDS.get(key.toLowerCase()) ?? (binary ? "other" : "text");
    found.push(finding(placed(kind, key, v), `APEv2/${key}`, v));
    pos = nul + 1 + length;
  }
  return start;
}

function id3v1(tag) {
  return latinFields("ID3v1", [["text", "title", tag.subarray(3, 33)], ["person", "artist", tag.subarray(33, 63)],
    ["text", "album", tag.subarray(63, 93)], ["time", "year", tag.subarray(93, 97)], ["text", "comment", tag.subarray(97, 127)]]);
}

function id3v1Extended(tag) {
  return latinFields("ID3v1+", [["text", "title", tag.subarray(4, 64)], ["person", "artist", tag.subarray(64, 124)],
    ["text", "album", tag.subarray(124, 184)]]);
}

function latinFields(where, fields) {
  const found = [];
  for (const [kind, name, raw] of fields) {
    const nul = raw.indexOf(0);
    const value = pyStrip(latin1(nul < 0 ? raw : raw.subarray(0, nul)));
    if (value) found.push(finding(placed(kind, "", value), `${where}/${name}`, value));
  }
  return found;
}

function pyStrip(s) {
  let [a, b] = [0, s.length];
  while (a < b && PY_SPACE.includes(s[a])) a++;
  while (b > a && PY_SPACE.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

// -- ID3v2 frames, for the findings --------------------------------------------------------------

/** One finding per frame of an ID3v2 tag (head: its 10-byte header, body: what follows). */
function id3Frames(head, body) {
  const [major, flags] = [head[3], head[5]];
  if (![2, 3, 4].includes(major) || (major === 2 && flags & 0x40)) return [finding("other", "ID3v2")];
  if (flags & 0x80 && major < 4) body = unsynchronised(body); // the whole tag was unsynchronised
  let pos = extendedHeader(major, flags, body);
  const [idLength, headLength] = major === 2 ? [3, 6] : [4, 10];
  const found = [];
  while (pos + headLength <= body.length && found.length < 1000) {
    const frameId = body.subarray(pos, pos + idLength);
    if (!frameId.every((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39))) break; // padding, or garbage
    const size = frameSize(major, body.subarray(pos + idLength, pos + headLength));
    const data = body.subarray(pos + headLength, pos + headLength + size);
    let fid = text(frameId);
    if (major === 2) fid = V22.get(fid) ?? fid;
    const frameFlags = major > 2 ? body[pos + 9] : 0;
    found.push(frameFinding(fid, frameData(major, frameFlags, data)));
    pos += headLength + size;
  }
  return found.length ? found : [finding("other", "ID3v2")];
}

/** Every 0xFF 0x00 pair as 0xFF, left to right, as Python's bytes.replace does it. */
function unsynchronised(data) {
  const out = [];
  for (let i = 0; i < data.length; i++) {
    out.push(data[i]);
    if (data[i] === 0xff && data[i + 1] === 0) i++;
  }
  return Uint8Array.from(out);
}

function extendedHeader(major, flags, body) {
  if (!(flags & 0x40) || body.length < 4) return 0;
  if (major === 3) return 4 + new DataView(body.buffer, body.byteOffset, body.length).getUint32(0, false); // leaves out its own 4 bytes
  return syncsafe(body.subarray(0, 4));
}

function frameSize(major, b) {
  if (major === 2) return (b[0] << 16) | (b[1] << 8) | b[2];
  return major === 4 ? syncsafe(b) : new DataView(b.buffer, b.byteOffset, b.length).getUint32(0, false);
}

/** The frame's content ready to decode, or null when it is compressed or encrypted. */
function frameData(major, flags, data) {
  if ((major === 3 && flags & 0xc0) || (major === 4 && flags & 0x0c)) return null;
  if (major === 4 && flags & 0x01) data = data.subarray(4); // a data length indicator
  if (major === 4 && flags & 0x02) data = unsynchronised(data);
  return data;
}

function frameFinding(fid, data) {
  const kind = ID3_KINDS.get(fid) ?? (fid.startsWith("T") ? "text" : "other");
  let [value, label] = ["", ""];
  if (data && data.length && (fid.startsWith("T") || fid === "COMM" || fid === "USLT")) {
    const enc = data[0];
    let rest = data.subarray(1);
    if (fid === "COMM" || fid === "USLT") rest = rest.subarray(3); // the language
    if (fid === "TXXX" || fid === "COMM" || fid === "USLT") {
      let raw;
      [raw, rest] = split(enc, rest);
      label = decode(enc, raw);
    }
    value = decode(enc, rest.subarray(0, 512));
  }
  return finding(placed(kind, label, value), `ID3v2/${fid}`, value);
}

/** A terminated string and what follows it (UTF-16 ends with two NULs on an even offset). */
function split(enc, data) {
  if (enc === 1 || enc === 2) {
    for (let i = 0; i < data.length - 1; i += 2) {
      if (data[i] === 0 && data[i + 1] === 0) return [data.subarray(0, i), data.subarray(i + 2)];
    }
    return [data, new Uint8Array(0)];
  }
  const nul = data.indexOf(0);
  return nul < 0 ? [data, new Uint8Array(0)] : [data.subarray(0, nul), data.subarray(nul + 1)];
}

function decode(enc, data) {
  if (enc === 1) {
    if (data[0] === 0xfe && data[1] === 0xff) return decoders["utf-16be"].decode(data.subarray(2));
    if (data[0] === 0xff && data[1] === 0xfe) return decoders["utf-16le"].decode(data.subarray(2));
    return decoders["utf-16le"].decode(data); // no byte order mark: little-endian, as players read it
  }
  if (enc === 2) return decoders["utf-16be"].decode(data);
  return enc === 3 ? decoders["utf-8"].decode(data) : latin1(data);
}

/** A field that holds a position (a TXXX "location", an ISO 6709 string) is a place. */
const placed = (kind, label, value) => (PLACE_NAMES.test(label) || PLACE.test(value) ? "place" : kind);

/** The printable ASCII of a key, its first 40 characters. */
function whereName(key) {
  let out = "";
  for (let i = 0; i < key.length && out.length < 40; i++) if (key[i] >= 0x20 && key[i] <= 0x7e) out += String.fromCharCode(key[i]);
  return out;
}
