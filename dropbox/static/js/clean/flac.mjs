// FLAC: only STREAMINFO and SEEKTABLE survive of the metadata blocks; the JavaScript twin of
// metadata/flac.py (read its docstring for the why). VORBIS_COMMENT, PICTURE, APPLICATION, CUESHEET,
// PADDING and unknown blocks are dropped, and so are ID3 tags before "fLaC" and after the frames.
// The Vorbis comment parser here serves ogg.mjs too.
import { tailTags } from "./mp3.mjs";
import { CannotClean, finding } from "./source.mjs";

export const [STREAMINFO, PADDING, APPLICATION, SEEKTABLE, VORBIS_COMMENT, CUESHEET, PICTURE] = [0, 1, 2, 3, 4, 5, 6];
export const INVALID = 127;
const MAX_BLOCKS = 1024;
const MAX_COMMENT = 1 << 20; // a VORBIS_COMMENT block larger than this is dropped without reading its fields
const MAX_FINDINGS = 1000; // findings from one comment list; the rest are dropped all the same
const BLOCKS = { [APPLICATION]: ["other", "APPLICATION"], [CUESHEET]: ["other", "CUESHEET"], [PICTURE]: ["thumbnail", "PICTURE"] };

const kinds = (names, kind) => Object.fromEntries(names.map((n) => [n, kind]));
// Vorbis comment field names (upper case) and what they say; any other field is text.
const COMMENT_KINDS = {
  ...kinds(["ARTIST", "PERFORMER", "COMPOSER", "ALBUMARTIST", "ALBUM ARTIST", "CONDUCTOR", "LYRICIST", "AUTHOR",
    "ENCODED-BY", "ENCODED_BY", "ENCODEDBY", "COPYRIGHT", "ORGANIZATION", "CONTACT", "PUBLISHER", "OWNER"], "person"),
  ...kinds(["DATE", "CREATION_TIME", "YEAR", "ORIGINALDATE", "ORIGINALYEAR", "RELEASEDATE", "RECORDINGDATE"], "time"),
  ...kinds(["ENCODER", "ENCODER_OPTIONS", "ENCODING", "SOFTWARE", "HANDLER_NAME", "VENDOR_ID"], "software"),
  ...kinds(["METADATA_BLOCK_PICTURE", "COVERART", "COVERARTMIME"], "thumbnail"),
  ...kinds(["MAKE", "MODEL", "DEVICE", "MANUFACTURER"], "device"),
};
const PLACE_NAME = /locat|gps|geo|latitude|longitude|xyz/i;
const DEVICE_NAME = /make|model|manufacturer/i;
// An ISO 6709 position ("+42.6931+023.3219") or a "lat, lon" pair; decimals required, so a date is not one.
const PLACE = /[+-][0-9]{1,2}\.[0-9]+[+-][0-9]{1,3}\.[0-9]+|-?[0-9]{1,2}\.[0-9]{3,}, ?-?[0-9]{1,3}\.[0-9]{3,}/;
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** A file that starts with "fLaC"; one behind an ID3v2 tag reaches planBlocks through mp3.mjs. */
export async function plan(source) {
  if (source.size < 4 || !isMagic(await source.readAt(0, 4))) throw new CannotClean("not a FLAC file");
  return planBlocks(source, 4, []);
}

const isMagic = (b) => b[0] === 0x66 && b[1] === 0x4c && b[2] === 0x61 && b[3] === 0x43; // "fLaC"

/** The plan of a FLAC stream whose metadata blocks start at `pos`; mp3.mjs calls it for a FLAC file
 *  behind an ID3v2 tag (sniff calls those mp3). */
export async function planBlocks(source, pos, found) {
  const kept = []; // [block type, body start, body length]
  let index = 0;
  for (; index < MAX_BLOCKS; index++) {
    const head = await source.readAt(pos, 4);
    const last = head[0] & 0x80;
    const kind = head[0] & 0x7f;
    const length = (head[1] << 16) | (head[2] << 8) | head[3];
    const body = pos + 4;
    if (body + length > source.size) throw new CannotClean("a FLAC metadata block runs past the end of the file");
    if ((index === 0) !== (kind === STREAMINFO) || kind === INVALID || (kind === STREAMINFO && length !== 34)) {
      throw new CannotClean("a FLAC file must start with one STREAMINFO block");
    }
    if (kind === SEEKTABLE && length % 18) throw new CannotClean("a FLAC SEEKTABLE of a broken size");
    if (kind === STREAMINFO || kind === SEEKTABLE) kept.push([kind, body, length]);
    else found.push(...(await blockFindings(source, kind, body, length)));
    pos = body + length;
    if (last) break;
  }
  if (index === MAX_BLOCKS) throw new CannotClean("too many FLAC metadata blocks");
  return { mime: "audio/flac", pieces: await pieces(source, kept, pos, found), found };
}

async function pieces(source, kept, audio, found) {
  let floor = audio;
  if (audio < source.size) {
    const sync = audio + 2 <= source.size ? await source.readAt(audio, 2) : new Uint8Array(0);
    if (sync.length < 2 || sync[0] !== 0xff || (sync[1] & 0xfe) !== 0xf8) {
      throw new CannotClean("the FLAC metadata blocks are not followed by a frame");
    }
    floor = audio + 2;
  }
  const end = floor < source.size ? await tailTags(source, floor, found) : source.size;
  const out = [new Uint8Array([0x66, 0x4c, 0x61, 0x43])];
  kept.forEach(([kind, body, length], i) => {
    const flag = i === kept.length - 1 ? 0x80 : 0;
    out.push(new Uint8Array([kind | flag, length >> 16, (length >> 8) & 0xff, length & 0xff]), { start: body, end: body + length });
  });
  out.push({ start: audio, end });
  return out;
}

async function blockFindings(source, kind, body, length) {
  if (kind === VORBIS_COMMENT) {
    if (length > MAX_COMMENT) return [finding("other", "VORBIS_COMMENT")];
    return commentFindings("VORBIS_COMMENT", await source.readAt(body, length));
  }
  return kind !== PADDING ? [blockFinding("", kind)] : [];
}

/** What a dropped block (not STREAMINFO, SEEKTABLE, VORBIS_COMMENT or PADDING) held. */
export function blockFinding(prefix, kind) {
  const [what, name] = BLOCKS[kind] ?? ["other", `block ${kind}`];
  return finding(what, prefix + name);
}

// -- Vorbis comments (here, and in Ogg's Vorbis, Opus, Theora and FLAC streams) ------------------

/** One finding per field of a Vorbis comment list (`data` starts at the vendor string's length), the
 *  vendor string included; `framing`: a Vorbis header, whose list ends with a framing bit. */
export function commentFindings(label, data, framing = false) {
  const vendorLength = u32(data, 0);
  const found = vendorLength === 0 ? [] : [finding("software", `${label}/vendor`, value(data.subarray(4, 4 + vendorLength)))];
  let pos = 4 + vendorLength;
  const count = u32(data, pos);
  pos += 4;
  if (count > Math.floor((data.length - pos) / 4)) throw new CannotClean("a Vorbis comment list with an impossible count");
  for (let i = 0; i < count; i++) {
    const length = u32(data, pos);
    if (pos + 4 + length > data.length) throw new CannotClean("a Vorbis comment runs past the end of its header");
    if (found.length < MAX_FINDINGS) found.push(comment(label, data.subarray(pos + 4, pos + 4 + length)));
    pos += 4 + length;
  }
  const rest = data.subarray(framing ? pos + 1 : pos); // the framing bit's byte is not data
  if (rest.some((b) => b !== 0)) found.push(finding("other", `${label}/trailing data`));
  return found;
}

function comment(label, entry) {
  const eq = entry.indexOf(0x3d);
  const key = eq < 0 ? entry : entry.subarray(0, eq);
  const name = [...key.subarray(0, 40)].filter((b) => b >= 0x20 && b <= 0x7e).map((b) => String.fromCharCode(b)).join("").toUpperCase();
  const text = value(eq < 0 ? new Uint8Array(0) : entry.subarray(eq + 1));
  let kind = COMMENT_KINDS[name] ?? "text";
  if (PLACE_NAME.test(name) || PLACE.test(text)) kind = "place";
  else if (kind === "text" && DEVICE_NAME.test(name)) kind = "device";
  return finding(kind, `${label}/${name}`, text);
}

const value = (raw) => UTF8.decode(raw.subarray(0, 256));

function u32(data, pos) {
  if (pos + 4 > data.length) throw new CannotClean("a Vorbis comment list cut short");
  return new DataView(data.buffer, data.byteOffset).getUint32(pos, true);
}
