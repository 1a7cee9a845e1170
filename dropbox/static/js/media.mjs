// What the browser does to attachments before sealing: photos are redrawn on a canvas and
// re-encoded, which leaves EXIF, GPS, XMP and ICC data behind; video and audio pass unchanged.
// Every picture is redrawn, whatever its format (AVIF, TIFF, an untyped file that starts like a
// picture), if this browser can decode it; one it cannot decode is refused unless the reporter
// chose to keep photo data. Metadata is never kept silently.
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

async function decode(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
}

/** Whether `file` is a picture this browser can redraw (and so clean). Closes what it decoded. */
export async function canClean(file) {
  const bitmap = await decode(file);
  bitmap?.close();
  return bitmap !== null;
}

/** A metadata-free JPEG of `bitmap`, upright (EXIF orientation applied before it is dropped). */
function redraw(bitmap) {
  const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
}

/** The file as it will be sealed, and its entry in the report document (docs/report.md). */
export async function prepare(file, keepMetadata) {
  let blob = file;
  let name = file.name || "file";
  let metadata = "kept";
  const picture = isImage(file) || (untyped(file) && (await looksLikePicture(file)));
  if (picture && !keepMetadata) {
    const bitmap = await decode(file);
    if (!bitmap) throw new CannotClean(name);
    blob = await redraw(bitmap);
    name = name.replace(/\.[^.]*$/, "") + ".jpg";
    metadata = "removed";
  }
  const sha256 = blob.size <= HASH_LIMIT
    ? toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())))
    : null;
  return { blob, entry: { name, type: blob.type || "application/octet-stream", size: blob.size, sha256, metadata } };
}
