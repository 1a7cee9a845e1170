// Resumable upload of one envelope, sealed on the fly: the plaintext never leaves this page and the
// ciphertext is never held whole. Talks to the JSON API in dropbox/api.py.
import { envelopeSize, sealStream } from "./envelope.mjs";

const RETRIES = 6;

/** Call the API; JSON in and out; throws an Error whose `code` is the server's error code. */
export async function api(page, method, path, body, headers = {}) {
  const isBytes = body instanceof Uint8Array;
  const response = await fetch(`/api/${page.desk}${path}`, {
    method,
    headers: { "X-Sealdrop-CSRF": page.csrf, ...(isBytes ? { "Content-Type": "application/octet-stream" } : body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: isBytes ? body : body ? JSON.stringify(body) : undefined,
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error || `HTTP ${response.status}`);
    error.code = data.error || "network";
    error.status = response.status;
    throw error;
  }
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** PUT one piece at `offset`, retrying with backoff; on a conflict, asks the server where it is. */
async function putPiece(page, id, offset, piece) {
  for (let attempt = 0; ; attempt++) {
    try {
      const { received } = await api(page, "PUT", `/uploads/${id}?offset=${offset}`, piece);
      return received;
    } catch (error) {
      if (error.status === 409) {
        const state = await api(page, "GET", `/uploads/${id}`);
        if (state.received >= offset + piece.length) return state.received;
      }
      if (attempt >= RETRIES || (error.status && error.status < 500 && error.status !== 409)) throw error;
      await sleep(500 * 2 ** attempt);
    }
  }
}

/**
 * Seal `input` to `recipients` and upload it in pieces; returns the upload id.
 * @param {{desk: string, csrf: string}} page
 * @param {Blob|Uint8Array} input
 * @param {Uint8Array[]} recipients
 * @param {(bytes: number) => void} onBytes called with each piece's size once the server has it
 */
export async function uploadSealed(page, input, recipients, onBytes = () => {}) {
  const size = input instanceof Uint8Array ? input.length : input.size;
  const total = envelopeSize(size, recipients.length);
  const { id, piece: pieceSize } = await api(page, "POST", "/uploads", { size: total });
  let buffer = new Uint8Array(pieceSize);
  let filled = 0;
  let offset = 0;
  const flush = async () => {
    const piece = buffer.subarray(0, filled);
    offset = await putPiece(page, id, offset, piece);
    onBytes(piece.length);
    buffer = new Uint8Array(pieceSize);
    filled = 0;
  };
  for await (let sealed of sealStream(input, recipients)) {
    while (sealed.length) {
      const take = Math.min(sealed.length, pieceSize - filled);
      buffer.set(sealed.subarray(0, take), filled);
      filled += take;
      sealed = sealed.subarray(take);
      if (filled === pieceSize) await flush();
    }
  }
  if (filled) await flush();
  if (offset !== total) throw Object.assign(new Error("upload incomplete"), { code: "incomplete_upload" });
  return id;
}

export const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
export const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
export const fromHex = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));
export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
