// Resumable upload of envelopes, sealed on the fly: the plaintext never leaves this page and the
// ciphertext is never held whole. Talks to the JSON API in dropbox/api.py.
//
// In the field the link drops (a school's Wi-Fi, a Tor circuit that dies): a failed request is retried
// with backoff, and after a few failures the page says it is waiting for the network, then goes on by
// itself (the `online` event, or the reporter pressing Send again) from the offset the server has. The
// sealing generator is paused meanwhile, so a resumed upload continues the same envelope: nothing is
// sent twice and nothing restarts. Only an answer the server gives on purpose (a 4xx) stops a send.
import { envelopeSize, sealStream } from "./envelope.mjs";

const DEFAULT_PIECE = 4 * 1024 * 1024; // Config.max_upload_piece's default, if the page does not say
// An upload of several pieces starts with a small one: the server can only refuse (caps or store full)
// once a request has arrived whole, and a whole 4 MiB piece takes 80 s on a Tor circuit.
const FIRST_PIECE = 64 * 1024;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000]; // then every 15 s, for as long as the page is open
const WAITING_AFTER = 3; // failed attempts in a row before the reporter is told we are waiting
const MIN_RATE = 2; // bytes per ms (2 KB/s): a request slower than this is taken as a dead link
const RETRYABLE = new Set([408, 409, 425, 429]);

/** Call the API; JSON in and out; throws an Error whose `code` is the server's error code. A failure
 * to reach the server at all has code "network" and no status. `onSent(bytes)` follows a body on its
 * way out (XMLHttpRequest: fetch cannot tell how much of a request body has left). */
export function api(page, method, path, body, { timeout = 0, onSent } = {}) {
  const isBytes = body instanceof Uint8Array;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, `/api/${page.desk}${path}`);
    xhr.setRequestHeader("X-Sealdrop-CSRF", page.csrf);
    xhr.setRequestHeader("Accept-Language", pageLanguage()); // words in an answer (a wait) in the page's language
    if (body) xhr.setRequestHeader("Content-Type", isBytes ? "application/octet-stream" : "application/json");
    xhr.timeout = timeout;
    xhr.responseType = "text";
    if (onSent) xhr.upload.onprogress = (event) => onSent(event.loaded);
    const lost = () => reject(Object.assign(new Error("network"), { code: "network" }));
    xhr.onerror = lost;
    xhr.ontimeout = lost;
    xhr.onabort = lost;
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { /* an answer not from us: a proxy's page */ }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      reject(Object.assign(new Error(data.error || `HTTP ${xhr.status}`),
        { code: data.error || "network", status: xhr.status, retryAfter: Number(data.retry_after) || 0,
          waitWords: typeof data.wait === "string" ? data.wait : "" }));
    };
    xhr.send(isBytes ? body : body ? JSON.stringify(body) : null);
  });
}

const pageLanguage = () => document.documentElement.lang || "en";

/** "40 seconds", "3 minutes": a wait the server asked for (retry_after) in the page's language, when the
 * answer did not say it in words itself (the server's words are better: browsers' Intl lacks some of our
 * languages' unit names, Chromium has no Kazakh "minutes"). Rounded up, as the server pages' words are. */
export function waitWords(seconds) {
  const [unit, amount] = seconds < 90 ? ["second", Math.max(5, Math.ceil(seconds / 5) * 5)] : ["minute", Math.ceil(seconds / 60)];
  return new Intl.NumberFormat(pageLanguage(), { style: "unit", unit, unitDisplay: "long" }).format(amount);
}

/** A refusal for now that says how long to wait: a budget spent (429 busy, dropbox/budget.py) or the
 * upload caps reached (503 uploads_full, intake.UploadLimits). */
const saysWhenToComeBack = (error) => (error.status === 429 || error.status === 503) && error.retryAfter > 0;

/** Whether a failed call may succeed if simply made again (no answer, a server busy or restarting). */
export const retryable = (error) => !error.status || error.status >= 500 || RETRYABLE.has(error.status);

/**
 * The connection as the reporter lives it: calls made through `call` are retried until they get an
 * answer, and `onWaiting(true|false)` says when we are waiting for the network. `wake()` cuts every
 * wait short (the reporter pressed Send again, or the browser says it is back online).
 */
export class Link {
  constructor(page, { onWaiting = () => {} } = {}) {
    this.page = page;
    this.onWaiting = onWaiting;
    this.onBusy = () => {}; // (seconds, words): the server is full for now (a 429 or 503 with retry_after), see call()
    this.failures = 0;
    this.wakers = new Set();
    this.wake = this.wake.bind(this);
    addEventListener("online", this.wake);
  }

  close() {
    removeEventListener("online", this.wake);
    this.wake();
  }

  wake() {
    for (const waker of this.wakers) waker();
    this.wakers.clear();
  }

  pause(ms) {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.wakers.delete(done); resolve(); };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /** `api(...)` until it is answered; a request that outlives a dead-slow link is aborted and retried. */
  async call(method, path, body, options = {}) {
    for (let attempt = 0; ; attempt++) {
      const bytes = body instanceof Uint8Array ? body.length : 0;
      try {
        const answer = await api(this.page, method, path, body, { ...options, timeout: 60_000 + bytes / MIN_RATE });
        this.answered();
        return answer;
      } catch (error) {
        if (error.code === "csrf" && !this.renewed) { // the page's token expired during a long wait
          await this.renewToken();
          continue;
        }
        if (saysWhenToComeBack(error)) { // wait as long as it says, and say why: not a network failure
          this.onBusy(error.retryAfter, error.waitWords);
          await this.pause(error.retryAfter * 1000);
          continue;
        }
        if (!retryable(error) || error.status === 409) throw error; // the caller knows what a 409 means
        this.failed();
        await this.pause(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
      }
    }
  }

  /** A fresh token for this page (tokens live 4 hours; an outage can be longer). Once per send: a
   * token refused again is a real refusal. */
  async renewToken() {
    this.renewed = true;
    this.page.csrf = (await this.call("GET", "/csrf")).csrf;
  }

  answered() {
    if (this.failures >= WAITING_AFTER) this.onWaiting(false);
    this.failures = 0;
  }

  failed() {
    this.failures += 1;
    if (this.failures === WAITING_AFTER) this.onWaiting(true);
  }
}

/** A new upload's id: made here, so that starting an upload is its first piece (no round trip of its
 * own) and a retried first piece cannot start a second upload. 128 random bits, as the server's. */
const newUploadId = () => toHex(crypto.getRandomValues(new Uint8Array(16)));

/** PUT one piece at `offset`; on a conflict, asks the server where it is. Returns the server's offset.
 * `onSent(bytes)` follows the piece on its way out. */
async function putPiece(link, id, offset, piece, size, onSent) {
  const first = offset === 0 ? `&size=${size}` : ""; // the first piece starts the upload
  for (;;) {
    try {
      return (await link.call("PUT", `/uploads/${id}?offset=${offset}${first}`, piece, { onSent })).received;
    } catch (error) {
      if (error.status !== 409) throw error;
      // A piece whose answer was lost: the server may hold it already (it is never written twice).
      const state = await link.call("GET", `/uploads/${id}`);
      if (state.received >= offset + piece.length) return state.received;
      if (state.received !== offset) throw error;
    }
  }
}

/**
 * Seal `input` to `recipients` and upload it in pieces through `link`; returns the upload id.
 * @param {Link} link
 * @param {Blob|Uint8Array} input
 * @param {Uint8Array[]} recipients
 * @param {(bytes: number) => void} onSent how many bytes of this envelope have left so far (the server
 *   has all of them once the upload resolves; after a lost piece the count goes back to its start)
 */
export async function uploadSealed(link, input, recipients, onSent = () => {}) {
  const total = sealedSize(input, recipients);
  const full = Math.min(link.page.piece || DEFAULT_PIECE, total);
  const id = newUploadId();
  let want = total > full ? Math.min(FIRST_PIECE, full) : full; // this piece's length
  let buffer = new Uint8Array(want);
  let filled = 0;
  let offset = 0;
  const flush = async () => {
    const start = offset;
    offset = await putPiece(link, id, offset, buffer.subarray(0, filled), total, (n) => onSent(start + n));
    onSent(offset);
    want = full;
    buffer = new Uint8Array(want);
    filled = 0;
  };
  for await (let sealed of sealStream(input, recipients)) {
    while (sealed.length) {
      const take = Math.min(sealed.length, want - filled);
      buffer.set(sealed.subarray(0, take), filled);
      filled += take;
      sealed = sealed.subarray(take);
      if (filled === want) await flush();
    }
  }
  if (filled) await flush();
  if (offset !== total) throw Object.assign(new Error("upload incomplete"), { code: "incomplete_upload" });
  return id;
}

/** The largest request body the server takes for an upload (Config.max_upload_piece). */
export const pieceSize = (page) => page.piece || DEFAULT_PIECE;

/**
 * A report small enough for one request (its envelopes together fit in one piece), sent whole with the
 * report call in one round trip (dropbox/api.py, `_submit_whole`). A lost request is sent again whole,
 * as a lost piece would be. Returns the server's answer.
 * @param {Link} link
 * @param {object} call the report call's fields (category, lookup_id, reply_public)
 * @param {(Blob|Promise<Blob>)[]} envelopes the sealed report document first, then the attachments
 * @param {(bytes: number) => void} onSent
 */
export async function sendWhole(link, call, envelopes, onSent = () => {}) {
  const sealed = await Promise.all(envelopes);
  const meta = new TextEncoder().encode(JSON.stringify({ ...call, sizes: sealed.map((e) => e.size) }));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, meta.length);
  // Bytes, not a Blob: at most a piece, as an upload holds; and what leaves is inspectable in tests.
  const body = new Uint8Array(await new Blob([length, meta, ...sealed]).arrayBuffer());
  const answer = await link.call("POST", "/reports", body, { onSent });
  onSent(body.length);
  return answer;
}

/** The sealed size of each input, to show progress in bytes before anything is sealed. */
export const sealedSize = (input, recipients) =>
  envelopeSize(input instanceof Uint8Array ? input.length : input.size, recipients.length);

export const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
export const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
export const fromHex = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));
export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
