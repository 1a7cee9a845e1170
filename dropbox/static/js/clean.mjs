// Hidden data out of video and audio before sealing, without re-encoding: the browser's half of
// docs/metadata.md (metadata/ is the server's and the viewer's). Each container family has its own
// module under clean/ with plan(source) → {mime, pieces, found}; the same file gives the same bytes
// here and in Python (tests/media/ compares them).
import { BlobSource, CannotClean, merged, sizeOf, toBlob } from "./clean/source.mjs";

export { CannotClean };

const HEIF_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"]);
const BMFF_FIRST_BOXES = new Set(["ftyp", "moov", "mdat", "wide", "free", "skip"]);
// Each family's cleaner, a module under clean/.
const CLEANERS = {
  bmff: "bmff", heif: "bmff", matroska: "matroska", ogg: "ogg", wav: "riff", mp3: "mp3", flac: "flac", amr: "amr",
};
// Every module a cleaner imports, directly or not, but source.mjs (here already): asked for with the
// cleaner at once, since over Tor each level of imports found one after another would cost a round trip
// when the reporter adds a file. tests/test_js_cleaners.py keeps these lists equal to the imports.
const IMPORTS = {
  bmff: ["_boxes", "_bmff_tables", "_bmff_offsets", "_bmff_findings", "_heif"],
  matroska: ["_ebml", "_matroska_tags", "_matroska_private"],
  ogg: ["flac", "mp3"],
  riff: ["mp3"],
  flac: ["mp3"],
};

// A cleaned file's name in the report: what it is, never what the phone called it (metadata.NEUTRAL_NAMES).
const NEUTRAL_NAMES = {
  "image/jpeg": "photo.jpg", "image/png": "photo.png", "image/heic": "photo.heic", "image/avif": "photo.avif",
  "video/mp4": "video.mp4", "video/quicktime": "video.mov", "video/3gpp": "video.3gp", "video/webm": "video.webm",
  "video/x-matroska": "video.mkv", "video/ogg": "video.ogv", "audio/mp4": "recording.m4a",
  "audio/webm": "recording.webm", "audio/ogg": "recording.ogg", "audio/wav": "recording.wav",
  "audio/mpeg": "recording.mp3", "audio/aac": "recording.aac", "audio/flac": "recording.flac",
  "audio/amr": "recording.amr", "audio/amr-wb": "recording.awb",
};

/** The name a cleaned file of type `mime` travels under; "file" for a type not listed. */
export const neutralName = (mime) => NEUTRAL_NAMES[mime] ?? "file";

const ascii = (bytes, from, to) => String.fromCharCode(...bytes.slice(from, to));

/** The container family by the first 16 bytes, as metadata.sniff says it; null for anything else. */
export function sniff(head) {
  if (ascii(head, 4, 8) === "ftyp") return HEIF_BRANDS.has(ascii(head, 8, 12)) ? "heif" : "bmff";
  if (BMFF_FIRST_BOXES.has(ascii(head, 4, 8))) return "bmff";
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return "matroska";
  if (ascii(head, 0, 4) === "OggS") return "ogg";
  if (["RIFF", "RF64"].includes(ascii(head, 0, 4)) && ascii(head, 8, 12) === "WAVE") return "wav";
  if (ascii(head, 0, 4) === "fLaC") return "flac";
  if (ascii(head, 0, 5) === "#!AMR") return "amr";
  if (ascii(head, 0, 3) === "ID3" || (head.length > 1 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0)) return "mp3";
  return null;
}

/** The family of a File or Blob, read from its first bytes. */
export async function familyOf(blob) {
  return sniff(new Uint8Array(await blob.slice(0, 16).arrayBuffer()));
}

/** The cleaning plan of `blob` (a File): {mime, pieces, found}. Throws CannotClean. */
export async function planFor(blob, family) {
  const cleaner = CLEANERS[family];
  if (!cleaner) throw new CannotClean(`no cleaner for ${family}`);
  const names = [cleaner, ...(IMPORTS[cleaner] ?? [])];
  const [module] = await Promise.all(names.map((name) => import(`./clean/${name}.mjs`)));
  const plan = await module.plan(new BlobSource(blob));
  return { ...plan, pieces: merged(plan.pieces) };
}

/** The cleaned file as a Blob of slices of the original, and what the original held. */
export async function clean(blob, family) {
  const plan = await planFor(blob, family);
  return { blob: toBlob(blob, plan.pieces, plan.mime), mime: plan.mime, found: plan.found, size: sizeOf(plan.pieces) };
}
