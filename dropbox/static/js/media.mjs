// What the browser does to attachments before sealing (docs/metadata.md): photos are redrawn on a
// canvas and re-encoded, which leaves EXIF, GPS, XMP, ICC and every other tag behind; video and
// audio are rewritten without re-encoding by clean.mjs (tags, places and times out, frames as they
// were). Every picture is redrawn, whatever its format (AVIF, TIFF, an untyped file that starts like
// a picture), if this browser can decode it; a HEIC photo it cannot decode has its Exif and XMP
// zeroed in place instead. Anything else is refused unless the reporter chose to keep the original
// data. Metadata is never kept silently.
import { clean, familyOf, neutralName } from "./clean.mjs";
import { toHex } from "./upload.mjs";

const MAX_EDGE = 4096; // pixels; larger photos are scaled down (and so are decompression bombs)
const HASH_LIMIT = 64 * 1024 * 1024; // WebCrypto digests whole buffers only: hash what fits easily
const PICTURE_NAME = /\.(jpe?g|jfif|png|apng|webp|gif|bmp|heic|heif|avif|tiff?|jxl|ico|svg)$/i;

/** No type, or the one systems give a file they do not know. */
export const untyped = (file) => !file.type || file.type === "application/octet-stream";

/** A picture by its type, or by its name when the system gave it no type. */
export const isImage = (file) => file.type.startsWith("image/") || (untyped(file) && PICTURE_NAME.test(file.name));

/** An untyped file that starts like a picture (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIF/AVIF). */
export async function looksLikePicture(file) {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const ascii = (from, to) => String.fromCharCode(...head.slice(from, to));
  return (head[0] === 0xff && head[1] === 0xd8) || ascii(1, 4) === "PNG" || ascii(0, 4) === "GIF8"
    || (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") || ascii(0, 2) === "BM"
    || ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*"
    || (ascii(4, 8) === "ftyp" && /^(avi[fs]|hei[cxms]|hev[cx]|mif1|msf1)$/.test(ascii(8, 12)));
}

/** Thrown for a picture this browser cannot redraw while the reporter did not choose to keep data. */
export class CannotClean extends Error {
  constructor(name) {
    super(`cannot remove hidden data from ${name}`);
    this.code = "cannot_clean";
    this.filename = name;
  }
}

/** Throws when `file` cannot be read any more (moved or deleted after it was chosen, a card taken out):
 * Chromium then reads it as empty instead of failing, and an empty read must not pass for a picture
 * this browser cannot clean. */
async function mustBeReadable(file) {
  const want = Math.min(16, file.size);
  if ((await file.slice(0, want).arrayBuffer()).byteLength !== want) {
    throw new DOMException("the file can no longer be read", "NotReadableError");
  }
}

async function decode(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
}

/** Whether this browser can draw `file` as a picture (a preview of it); Chromium cannot draw HEIC.
 * A video or recording is never handed to the decoder: it would read the whole file into memory. */
export async function canDraw(file) {
  const family = await familyOf(file);
  if (family && family !== "heif") return false;
  const bitmap = await decode(file);
  bitmap?.close();
  return bitmap !== null;
}

/** Whether the hidden data of `file` can be removed here: a picture this browser can redraw, a HEIC
 * photo, or a video or recording whose container clean.mjs reads. Only headers are read. */
export async function canClean(file) {
  const family = await familyOf(file);
  if (family && family !== "heif") return (await cleanMedia(file, family)) !== null;
  return family === "heif" || (await canDraw(file));
}

async function cleanMedia(file, family) {
  try {
    return await clean(file, family);
  } catch (error) {
    if (error.name === "CannotClean") return null;
    throw error;
  }
}

// JPEG qualities tried in turn until the redraw of a JPEG is no larger than the original: a camera
// photo re-encoded at the camera's quality often comes out larger (5.10 MiB in, 5.18 MiB out), and
// every byte is paid for on a slow link. Below the last one a photo loses too much; then the smallest
// is sent. Only a JPEG is held to its size: no JPEG matches a small PNG or GIF drawing, or a HEIC or
// AVIF photo (better codecs), without visible loss.
const QUALITIES = [0.9, 0.82, 0.72, 0.6];

// The luminance table of the JPEG standard (Annex K), in zigzag order as a DQT segment holds it.
const STANDARD_LUMA = [16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35,
  37, 29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87, 95, 98, 103,
  104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99];
const HEAD_BYTES = 256 * 1024; // a camera's EXIF and thumbnail come before the tables; 64 KiB is not always enough

/** The IJG quality (1-100) a JPEG's first 8-bit quantization table was made with, or null: the redraw
 * starts there, so that one encode usually suffices (each is seconds for a 12 MP photo on a phone). */
function jpegQuality(head) {
  for (let at = 2; at + 4 < head.length;) {
    if (head[at] !== 0xff) return null;
    const marker = head[at + 1];
    const length = (head[at + 2] << 8) | head[at + 3];
    if (marker === 0xdb && head[at + 4] >> 4 === 0 && at + 4 + 65 <= head.length) {
      const table = head.subarray(at + 5, at + 5 + 64);
      const scale = (table.reduce((sum, q, i) => sum + (q * 100) / STANDARD_LUMA[i], 0)) / 64;
      return Math.max(1, Math.min(100, Math.round(scale <= 100 ? (200 - scale) / 2 : 5000 / scale)));
    }
    if (marker === 0xda) return null; // the picture data: no table before it
    at += 2 + length;
  }
  return null;
}

/** For the redraw of `file`: at most how many bytes it should take (0: no limit) and the quality to
 * start from. Only a JPEG is held to its size. */
async function redrawTarget(file) {
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  if (!(head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff)) return { limit: 0, start: QUALITIES[0] };
  const quality = jpegQuality(head);
  return { limit: file.size, start: quality ? Math.min(QUALITIES[0], quality / 100) : QUALITIES[0] };
}

/** A metadata-free JPEG of `bitmap`, upright (EXIF orientation applied before it is dropped), and no
 * larger than `limit` bytes where a quality from `start` down QUALITIES makes it so (0: no limit). */
async function redraw(bitmap, { limit = 0, start = QUALITIES[0] } = {}) {
  const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  let smallest = null;
  for (const quality of [start, ...QUALITIES.filter((q) => q < start)]) {
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality });
    if (!smallest || blob.size < smallest.size) smallest = blob;
    if (!limit || blob.size <= limit) break;
  }
  return smallest;
}

/** The file as it will be sealed, and its entry in the report document (docs/report.md). */
export async function prepare(file, keepMetadata) {
  const name = file.name || "file";
  await mustBeReadable(file);
  // A cleaned file travels under a neutral name: phones name files after the second they were made.
  const found = keepMetadata ? { blob: file, name, metadata: "kept" } : await cleaned(file);
  if (!found) throw new CannotClean(name);
  return described(found.blob, found.name, found.metadata);
}

/**
 * Everything the form needs to know about a file just chosen, in one pass (a 12 MP photo is decoded
 * once, not three times): whether this browser draws it (a preview), and the file as it will be
 * sealed without its hidden data (`cleaned`, as `prepare(file, false)` gives it), or null when this
 * browser cannot remove that data. Throws only when the file cannot be read at all.
 */
export async function examine(file) {
  await mustBeReadable(file);
  const family = await familyOf(file);
  const picture = isImage(file) || family === "heif" || (untyped(file) && (await looksLikePicture(file)));
  // A video or recording is never handed to the image decoder (as in canDraw).
  const bitmap = !family || family === "heif" ? await decode(file) : null;
  if (bitmap && picture) {
    const blob = await redraw(bitmap, await redrawTarget(file));
    return { drawable: true, cleaned: await described(blob, neutralName("image/jpeg"), "removed") };
  }
  bitmap?.close();
  const media = family && !(picture && family !== "heif") ? await cleanMedia(file, family) : null;
  const cleanedEntry = media && (await described(media.blob, neutralName(media.mime), "removed"));
  return { drawable: bitmap !== null, cleaned: cleanedEntry };
}

let examiner = null; // the worker of media-worker.mjs, once started; false where workers fail here
const asked = new Map(); // request id -> { resolve, reject, file }

function newExaminer() {
  try {
    examiner = new Worker(new URL("./media-worker.mjs", import.meta.url), { type: "module" });
  } catch {
    return false; // no module workers: the page examines files itself
  }
  examiner.onmessage = ({ data }) => {
    const request = asked.get(data.id);
    asked.delete(data.id);
    if (data.unreadable) request.reject(new Error("unreadable"));
    else request.resolve(data.found);
  };
  examiner.onerror = (event) => { // the worker did not load (an old engine, a policy): do it here
    event.preventDefault();
    examiner = false;
    for (const request of asked.values()) examine(request.file).then(request.resolve, request.reject);
    asked.clear();
  };
  return true;
}

let nextId = 0;

/** Start the examining worker now, while the reporter reads the form: its modules are fetched again
 * for the worker, which on a Tor circuit is two round trips (3 s) a photo chosen early would wait for. */
export function startExaminer() {
  if (examiner === null && !newExaminer()) examiner = false;
}

/** `examine(file)`, in a worker where the browser allows it, so that a slow phone's redraw does not
 * freeze the page; the same answer either way. */
export async function examineOffThread(file) {
  startExaminer();
  if (!examiner) return examine(file);
  await mustBeReadable(file); // here: a copy of a vanished file reaches the worker as an empty one
  return new Promise((resolve, reject) => {
    const id = ++nextId;
    asked.set(id, { resolve, reject, file });
    examiner.postMessage({ id, file });
  });
}

/** The file without its hidden data, or null when this browser cannot remove it. */
async function cleaned(file) {
  const family = await familyOf(file);
  const picture = isImage(file) || family === "heif" || (untyped(file) && (await looksLikePicture(file)));
  if (picture) {
    const bitmap = await decode(file);
    if (bitmap) return { blob: await redraw(bitmap, await redrawTarget(file)), name: neutralName("image/jpeg"), metadata: "removed" };
    if (family !== "heif") return null;
  }
  const media = family ? await cleanMedia(file, family) : null;
  return media && { blob: media.blob, name: neutralName(media.mime), metadata: "removed" };
}

/** A file as it will be sealed, and its entry in the report document. */
export async function described(blob, name, metadata) {
  const sha256 = blob.size <= HASH_LIMIT
    ? toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())))
    : null;
  return { blob, entry: { name, type: blob.type || "application/octet-stream", size: blob.size, sha256, metadata } };
}
