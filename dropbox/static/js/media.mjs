// What the browser does to attachments before sealing: photos are redrawn on a canvas and
// re-encoded, which leaves EXIF, GPS, XMP and ICC data behind; video and audio pass unchanged.
import { toHex } from "./upload.mjs";

const MAX_EDGE = 4096; // pixels; larger photos are scaled down (and so are decompression bombs)
const HASH_LIMIT = 64 * 1024 * 1024; // WebCrypto digests whole buffers only: hash what fits easily

export const isImage = (file) => /^image\/(jpeg|png|webp|gif|bmp|heic|heif)$/.test(file.type);

/** A metadata-free JPEG of `file`, upright (EXIF orientation applied before it is dropped). */
export async function scrubImage(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
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
  if (isImage(file) && !keepMetadata) {
    blob = await scrubImage(file);
    name = name.replace(/\.[^.]*$/, "") + ".jpg";
    metadata = "removed";
  }
  const sha256 = blob.size <= HASH_LIMIT
    ? toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())))
    : null;
  return { blob, entry: { name, type: blob.type || "application/octet-stream", size: blob.size, sha256, metadata } };
}
