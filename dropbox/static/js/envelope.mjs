// The sealdrop envelope, version 1 (docs/envelope.md), in the browser with WebCrypto only.
//
// Byte-for-byte the format of crypto/ in Python: HPKE (RFC 9180) base mode with DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256 and AES-256-GCM wraps a random file key for each recipient; the padded
// plaintext is sealed with AES-256-GCM in 64 KiB STREAM chunks. No third-party code, no build step.

const subtle = globalThis.crypto?.subtle;
const ascii = (text) => new TextEncoder().encode(text);

const MAGIC = ascii("sealdrop");
const VERSION = 1;
const SALT_LEN = 16;
const FIXED_LEN = MAGIC.length + 1 + SALT_LEN + 1;
const MAC_LEN = 32;
const MAX_STANZAS = 32;
const STANZA_X25519 = 0x01;
const KEY_ID_LEN = 16;
const X25519_BODY_LEN = KEY_ID_LEN + 32 + 48; // key id || enc || HPKE ciphertext of the file key
const MAX_HEADER = FIXED_LEN + MAX_STANZAS * (3 + 0xffff) + MAC_LEN;
const FILE_KEY_LEN = 32;
const CHUNK = 65536;
const TAG = 16;
const SEALED_CHUNK = CHUNK + TAG;
const MIN_PADDED = 16384;
const MARKER = 0x80;
const DEPTH = 16; // AES-GCM calls kept in flight: WebCrypto runs them off the main thread
const EMPTY = new Uint8Array(0);
const ZEROS = new Uint8Array(CHUNK);
const label = (name) => ascii("sealdrop.org/v1/" + name);

// ---------------------------------------------------------------------------------------- errors

/** Base of every error this module throws on purpose. */
export class SealdropError extends Error {}
/** An envelope could not be opened; `name` says which kind (docs/envelope.md, "Errors"). */
export class EnvelopeError extends SealdropError {}
export class UnsupportedVersion extends EnvelopeError {}
export class HeaderError extends EnvelopeError {}
export class NoMatch extends EnvelopeError {}
export class HeaderMACError extends EnvelopeError {}
export class PayloadError extends EnvelopeError {}
/** A receipt code is malformed or fails its check (a typo). */
export class ReceiptError extends SealdropError {}
// `name` is part of the contract (docs/envelope.md, "Errors"): pinned on each class, not left to chance.
for (const cls of [SealdropError, EnvelopeError, UnsupportedVersion, HeaderError, NoMatch, HeaderMACError,
  PayloadError, ReceiptError]) Object.defineProperty(cls.prototype, "name", { value: cls.name });

// ---------------------------------------------------------------------------------------- bytes

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const u16 = (n) => Uint8Array.of(n >> 8, n & 0xff);
const random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** Constant-time equality: looks at every byte whatever the first difference. */
function equalCT(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// ------------------------------------------------------------------- HMAC, HKDF (RFC 2104, 5869)

async function hmac(key, message) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, message));
}

// WebCrypto refuses empty HMAC keys; RFC 5869 says a missing salt is HashLen zeros, which HMAC's
// zero-padding of short keys makes the same thing.
const extract = (salt, ikm) => hmac(salt.length ? salt : new Uint8Array(32), ikm);

async function expand(prk, info, length) {
  const out = new Uint8Array(length);
  let block = EMPTY;
  for (let i = 1, at = 0; at < length; i++, at += 32) {
    block = await hmac(prk, concat(block, info, [i]));
    out.set(block.subarray(0, Math.min(32, length - at)), at);
  }
  return out;
}

const hkdf = async (ikm, salt, info, length = 32) => expand(await extract(salt, ikm), info, length);

// ---------------------------------------------------------------------------- X25519 and HPKE

const X25519 = { name: "X25519" };
// PKCS#8 wrapping of a raw X25519 scalar: WebCrypto imports private keys in no other raw form.
const PKCS8_X25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b,
  0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
const BASE_POINT = Uint8Array.of(9, ...new Uint8Array(31));

const importPublic = (raw) => subtle.importKey("raw", raw, X25519, true, []);
const importPrivate = (raw) => subtle.importKey("pkcs8", concat(PKCS8_X25519, raw), X25519, false,
  ["deriveBits"]);

async function dh(privateKey, publicRaw) {
  const pub = await importPublic(publicRaw);
  return new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, privateKey, 256));
}

const KEM_SUITE = concat(ascii("KEM"), [0x00, 0x20]);
const HPKE_SUITE = concat(ascii("HPKE"), [0x00, 0x20, 0x00, 0x01, 0x00, 0x02]);
const HPKE_V1 = ascii("HPKE-v1");
const labeledExtract = (suite, salt, lbl, ikm) => extract(salt, concat(HPKE_V1, suite, ascii(lbl), ikm));
const labeledExpand = (suite, prk, lbl, info, length) =>
  expand(prk, concat(u16(length), HPKE_V1, suite, ascii(lbl), info), length);

/** RFC 9180 4.1 ExtractAndExpand, then 5.1 KeySchedule in base mode: the AEAD key and nonce. */
async function hpkeContext(dhSecret, enc, pkR, info) {
  const eae = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dhSecret);
  const shared = await labeledExpand(KEM_SUITE, eae, "shared_secret", concat(enc, pkR), 32);
  const pskIdHash = await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat([0x00], pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
  const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 32);
  const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  return { key: await aesKey(key, "encrypt", "decrypt"), nonce };
}

/** Single-shot SealBase with empty aad; returns enc || ct. */
async function hpkeSeal(pkR, info, plaintext) {
  const eph = await subtle.generateKey(X25519, true, ["deriveBits"]);
  const enc = new Uint8Array(await subtle.exportKey("raw", eph.publicKey));
  const { key, nonce } = await hpkeContext(await dh(eph.privateKey, pkR), enc, pkR, info);
  return concat(enc, new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plaintext)));
}

/** Single-shot OpenBase with empty aad; rejects on any failure (bad tag, low-order enc). */
async function hpkeOpen(recipient, info, encAndCt) {
  const enc = encAndCt.subarray(0, 32);
  const secret = await dh(recipient.privateKey, enc);
  const { key, nonce } = await hpkeContext(secret, enc, recipient.publicKey, info);
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, encAndCt.subarray(32)));
}

const aesKey = (raw, ...usages) => subtle.importKey("raw", raw, "AES-GCM", false, usages);

// ----------------------------------------------------------------------------------------- keys

/**
 * The key id of an X25519 public key: SHA256("sealdrop.org/v1/key-id" || pk)[0:16].
 * @param {Uint8Array} publicKey 32 bytes
 * @returns {Promise<Uint8Array>} 16 bytes
 */
export async function keyId(publicKey) {
  checkLength(publicKey, 32, "an X25519 public key");
  const digest = await subtle.digest("SHA-256", concat(label("key-id"), publicKey));
  return new Uint8Array(digest).slice(0, KEY_ID_LEN);
}

/** @typedef {{privateKey: CryptoKey, publicKey: Uint8Array, keyId: Uint8Array}} DecryptionKey */

/**
 * Turn a raw 32-byte X25519 private key into what `open` uses (the public half is X25519(sk, 9)),
 * so that a page can import a key once, non-extractable, and forget the raw bytes.
 * @param {Uint8Array} raw
 * @returns {Promise<DecryptionKey>}
 */
export async function decryptionKey(raw) {
  checkLength(raw, 32, "an X25519 private key");
  const privateKey = await importPrivate(raw);
  const publicKey = await dh(privateKey, BASE_POINT);
  return { privateKey, publicKey, keyId: await keyId(publicKey) };
}

function checkLength(bytes, n, what) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) throw new TypeError(`${what} is ${n} bytes`);
}

/**
 * True when this browser's WebCrypto does everything the envelope needs (X25519 above all);
 * otherwise the page keeps to the no-JavaScript path. Checks RFC 7748's test vector.
 * @returns {Promise<boolean>}
 */
export async function supported() {
  try {
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const { publicKey } = await decryptionKey(alice);
    return equalCT(publicKey, hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  } catch {
    return false;
  }
}

const hex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));

// --------------------------------------------------------------------------------------- header

const fileKeyInfo = (kid) => concat(label("file-key"), [VERSION], kid);
const macKey = (fileKey) => hkdf(fileKey, EMPTY, label("header-mac"));

async function buildHeader(fileKey, salt, recipients) {
  if (!Array.isArray(recipients) || recipients.length < 1 || recipients.length > MAX_STANZAS) {
    throw new RangeError(`an envelope needs 1 to ${MAX_STANZAS} recipients`);
  }
  const stanzas = await Promise.all(recipients.map(async (pk) => {
    const kid = await keyId(pk);
    return concat([STANZA_X25519], u16(X25519_BODY_LEN), kid, await hpkeSeal(pk, fileKeyInfo(kid), fileKey));
  }));
  const head = concat(MAGIC, [VERSION], salt, [recipients.length], ...stanzas);
  return concat(head, await hmac(await macKey(fileKey), head));
}

/** Parse the header in the spec's order of checks; returns stanzas, the MAC and the header size. */
function parseHeader(bytes) {
  if (bytes.length < MAGIC.length || !equalCT(bytes.subarray(0, MAGIC.length), MAGIC)) {
    throw new HeaderError("this is not a sealdrop envelope (wrong magic bytes)");
  }
  if (bytes.length > MAGIC.length && bytes[MAGIC.length] !== VERSION) {
    throw new UnsupportedVersion(`envelope version ${bytes[MAGIC.length]} is not supported (this program reads version 1)`);
  }
  if (bytes.length < FIXED_LEN) throw new HeaderError("the envelope ends inside its header (fixed fields)");
  const count = bytes[FIXED_LEN - 1];
  if (count < 1 || count > MAX_STANZAS) {
    throw new HeaderError(`the header announces ${count} recipients (1 to ${MAX_STANZAS} allowed)`);
  }
  const take = (at, n, what) => {
    if (at + n > bytes.length) throw new HeaderError(`the envelope ends inside its header (${what})`);
    return bytes.subarray(at, at + n);
  };
  const stanzas = [];
  let at = FIXED_LEN;
  for (let i = 0; i < count; i++) {
    const head = take(at, 3, "stanza");
    const type = head[0];
    const length = (head[1] << 8) | head[2];
    if (type === STANZA_X25519 && length !== X25519_BODY_LEN) {
      throw new HeaderError(`an X25519 stanza is ${length} bytes long, not ${X25519_BODY_LEN}`);
    }
    stanzas.push({ type, body: take(at + 3, length, "stanza body") });
    at += 3 + length;
  }
  const mac = take(at, MAC_LEN, "MAC");
  return { salt: bytes.subarray(MAGIC.length + 1, MAGIC.length + 1 + SALT_LEN), stanzas,
    authenticated: bytes.subarray(0, at), mac, length: at + MAC_LEN };
}

/** The file key from the first stanza addressed to one of `keys` (docs/envelope.md, "Stanza"). */
async function unwrapFileKey(header, keys) {
  for (const { type, body } of header.stanzas) {
    if (type !== STANZA_X25519) continue; // another suite: skipped, but still under the MAC
    const kid = body.subarray(0, KEY_ID_LEN);
    const key = keys.find((k) => equalCT(k.keyId, kid));
    if (!key) continue;
    let fileKey;
    try {
      fileKey = await hpkeOpen(key, fileKeyInfo(kid), body.subarray(KEY_ID_LEN));
    } catch {
      throw new HeaderError("the recipient stanza for this key does not open (altered)");
    }
    if (fileKey.length !== FILE_KEY_LEN) {
      throw new HeaderError("the recipient stanza for this key holds a malformed file key");
    }
    return fileKey;
  }
  throw new NoMatch("this envelope is not sealed to any of the given keys");
}

// -------------------------------------------------------------------------------------- padding

/** Padmé (Nikitin et al., PETS 2019) with exact float arithmetic: JS bit operators stop at 32 bits. */
function padme(n) {
  if (n < 2) return n;
  let e = 0; // floor(log2(n)), counted rather than computed: Math.log2 may round up near 2^k
  while (2 ** (e + 1) <= n) e++;
  let s = 0; // floor(log2(e)) + 1, the bit length of e
  while (2 ** s <= e) s++;
  const step = 2 ** (e - s);
  return Math.ceil(n / step) * step; // n / step is exact: step is a power of two
}

/**
 * Bytes an envelope of a `messageLength`-byte plaintext takes for `recipients` recipients.
 * @param {number} messageLength
 * @param {number} [recipients]
 * @returns {number}
 */
export function envelopeSize(messageLength, recipients = 1) {
  const padded = paddedLength(messageLength);
  return FIXED_LEN + 99 * recipients + MAC_LEN + padded + TAG * Math.ceil(padded / CHUNK);
}

const paddedLength = (messageLength) => Math.max(MIN_PADDED, padme(messageLength + 1));

// ------------------------------------------------------------------------------------- payload

function nonce(counter, last) {
  const iv = new Uint8Array(12);
  for (let i = 10, v = counter; v > 0; i--, v = Math.floor(v / 256)) iv[i] = v % 256;
  iv[11] = last ? 1 : 0;
  return iv;
}

/** `input` in chunks of `n` bytes (the last one shorter): views of it where possible. */
async function* chunksOf(input, n) {
  if (input instanceof Uint8Array) {
    for (let at = 0; at < input.length; at += n) yield input.subarray(at, at + n);
    return;
  }
  // A Blob's stream is several times faster than slice().arrayBuffer() per MiB in Chromium; its
  // pieces are usually 64 KiB multiples, so a chunk is a view and at most a ragged edge is copied.
  const reader = input.stream().getReader();
  let carry = null;
  let filled = 0;
  let read = 0;
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      let piece = next.value;
      read += piece.length;
      if (filled > 0) {
        const take = Math.min(n - filled, piece.length);
        carry.set(piece.subarray(0, take), filled);
        filled += take;
        piece = piece.subarray(take);
        if (filled < n) continue;
        yield carry;
        filled = 0;
      }
      const whole = piece.length - (piece.length % n);
      for (let at = 0; at < whole; at += n) yield piece.subarray(at, at + n);
      if (whole < piece.length) {
        carry = new Uint8Array(n); // fresh each time: the one before may still be in WebCrypto's hands
        carry.set(piece.subarray(whole));
        filled = piece.length - whole;
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // a consumer that stops early must not leave the file locked
  }
  if (read !== input.size) throw new Error("the file changed while it was being read");
  if (filled > 0) yield carry.subarray(0, filled);
}

/** P of docs/envelope.md, "Padding", as chunks: the message, then 0x80, then zeros. */
async function* paddedChunks(input, size) {
  const padded = paddedLength(size);
  let tail = EMPTY;
  let done = 0;
  for await (const chunk of chunksOf(input, CHUNK)) {
    // A full chunk of message is never the last chunk of P: the marker always follows it.
    if (chunk.length < CHUNK) { tail = chunk; break; }
    yield chunk;
    done += CHUNK;
  }
  const first = new Uint8Array(Math.min(CHUNK, padded - done));
  first.set(tail);
  first[tail.length] = MARKER;
  yield first;
  for (done += first.length; done < padded; done += CHUNK) yield ZEROS.subarray(0, Math.min(CHUNK, padded - done));
}

// -------------------------------------------------------------------------------------- sealing

/**
 * Seal `input` to `recipients`, yielding the envelope in order: the header, then one piece per
 * sealed 64 KiB chunk (65,552 bytes, the last one shorter). Constant memory for a Blob input, so
 * an upload page can send it in resumable pieces; `envelopeSize` gives the total beforehand.
 * @param {Blob|Uint8Array} input
 * @param {Uint8Array[]} recipients 1 to 32 X25519 public keys of 32 bytes
 * @param {{onProgress?: (done: number, total: number) => void}} [options] envelope bytes so far
 * @returns {AsyncGenerator<Uint8Array>}
 */
export async function* sealStream(input, recipients, { onProgress } = {}) {
  const size = input instanceof Uint8Array ? input.length : input.size;
  if (!Number.isSafeInteger(size)) throw new TypeError("seal takes a Blob or a Uint8Array");
  const fileKey = random(FILE_KEY_LEN);
  const salt = random(SALT_LEN);
  const header = await buildHeader(fileKey, salt, recipients);
  const key = await aesKey(await hkdf(fileKey, salt, label("payload")), "encrypt");
  const total = envelopeSize(size, recipients.length);
  const chunks = Math.ceil(paddedLength(size) / CHUNK);
  let done = header.length;
  yield header;
  onProgress?.(done, total);
  // Several encryptions in flight, taken in order: WebCrypto works while we read and yield.
  const source = paddedChunks(input, size);
  const inFlight = [];
  try {
    for (let i = 0; i < chunks || inFlight.length;) {
      for (; i < chunks && inFlight.length < DEPTH; i++) {
        const { value: plain } = await source.next();
        inFlight.push(quiet(subtle.encrypt({ name: "AES-GCM", iv: nonce(i, i === chunks - 1) }, key, plain)));
      }
      const sealed = new Uint8Array(await inFlight.shift());
      done += sealed.length;
      yield sealed;
      onProgress?.(done, total);
    }
  } finally {
    await source.return(); // a consumer that stops early (a cancelled upload) releases the file
  }
}

/** Mark a promise handled so that a failure waits its turn in the queue without a console warning. */
function quiet(promise) {
  promise.catch(() => {});
  return promise;
}

/**
 * Seal `input` to `recipients` (docs/envelope.md); the whole envelope as one Blob.
 * @param {Blob|Uint8Array} input
 * @param {Uint8Array[]} recipients 1 to 32 X25519 public keys of 32 bytes
 * @param {{onProgress?: (done: number, total: number) => void}} [options]
 * @returns {Promise<Blob>}
 */
export async function seal(input, recipients, options = {}) {
  const pieces = [];
  for await (const piece of sealStream(input, recipients, options)) pieces.push(piece);
  return new Blob(pieces, { type: "application/octet-stream" });
}

// -------------------------------------------------------------------------------------- opening

/**
 * Open an envelope with any of `keys`. Checks in the spec's order (magic and version, header
 * structure, stanzas, MAC, payload) and releases nothing before the MAC verifies.
 * @param {Blob|Uint8Array} envelope
 * @param {(Uint8Array|DecryptionKey)[]} keys raw 32-byte X25519 private keys, or `decryptionKey`s
 * @returns {Promise<Uint8Array>} the plaintext, padding removed
 * @throws {EnvelopeError} named UnsupportedVersion, HeaderError, NoMatch, HeaderMACError or PayloadError
 */
export async function open(envelope, keys) {
  if (!(envelope instanceof Uint8Array || envelope instanceof Blob)) {
    throw new TypeError("open takes a Blob or a Uint8Array");
  }
  const header = await readHeader(envelope);
  const ours = await Promise.all(keys.map((k) => (k instanceof Uint8Array ? decryptionKey(k) : k)));
  const fileKey = await unwrapFileKey(header, ours);
  if (!equalCT(await hmac(await macKey(fileKey), header.authenticated), header.mac)) {
    throw new HeaderMACError("the envelope's header MAC does not verify (the header was altered)");
  }
  const key = await aesKey(await hkdf(fileKey, header.salt, label("payload")), "decrypt");
  const payload = envelope instanceof Blob ? envelope.slice(header.length) : envelope.subarray(header.length);
  return unpad(await openPayload(payload, key));
}

/** Parse the header from a first 4 KiB, enough for 39 recipients; a longer header is read again. */
async function readHeader(envelope) {
  const total = byteLength(envelope);
  try {
    return parseHeader(await readBytes(envelope, 0, Math.min(total, 4096)));
  } catch (e) {
    // A prefix fails exactly where the whole would, except where it is too short: read it all.
    if (!(e instanceof HeaderError) || total <= 4096) throw e;
    return parseHeader(await readBytes(envelope, 0, Math.min(total, MAX_HEADER)));
  }
}

const byteLength = (src) => (src instanceof Uint8Array ? src.length : src.size);

async function readBytes(src, at, n) {
  if (src instanceof Uint8Array) return src.subarray(at, at + n);
  return new Uint8Array(await src.slice(at, at + n).arrayBuffer());
}

/** Decrypt every chunk into one buffer at its place, with the flag its position implies. */
async function openPayload(payload, key) {
  const length = byteLength(payload);
  if (length === 0) throw new PayloadError("the envelope has no payload");
  const chunks = Math.ceil(length / SEALED_CHUNK);
  if (length - (chunks - 1) * SEALED_CHUNK <= TAG) {
    throw new PayloadError("the payload is truncated (a chunk is cut short)");
  }
  const out = new Uint8Array(length - chunks * TAG);
  const inFlight = [];
  let i = 0;
  for await (const sealed of chunksOf(payload, SEALED_CHUNK)) {
    const index = i++;
    const last = index === chunks - 1;
    inFlight.push(quiet(subtle.decrypt({ name: "AES-GCM", iv: nonce(index, last) }, key, sealed).then(
      (plain) => out.set(new Uint8Array(plain), index * CHUNK),
      () => diagnose(key, index, last, sealed))));
    if (inFlight.length >= DEPTH) await inFlight.shift(); // in order: the first bad chunk wins
  }
  while (inFlight.length) await inFlight.shift();
  return out;
}

/** Say why a chunk failed: one that opens with the other flag means truncation or extra data. */
async function diagnose(key, i, last, sealed) {
  const other = await subtle.decrypt({ name: "AES-GCM", iv: nonce(i, !last) }, key, sealed).then(
    () => true, () => false);
  if (!other && last) {  // the bytes end inside this chunk: cut short, or extended, or altered
    throw new PayloadError(`the last chunk (${i}) of the payload fails authentication (cut, added to, altered)`);
  }
  if (!other) throw new PayloadError(`chunk ${i} of the payload fails authentication (altered, reordered or corrupt)`);
  if (last) throw new PayloadError("the payload is truncated (it ends at a chunk boundary before its last chunk)");
  throw new PayloadError("the payload has trailing data after its last chunk");
}

/** Drop the trailing zeros and exactly one 0x80 before them. */
function unpad(padded) {
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (end === 0 || padded[end - 1] !== MARKER) throw new PayloadError("the payload's padding is malformed");
  return padded.subarray(0, end - 1);
}

// -------------------------------------------------------------------------------------- receipts

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DATA_SYMBOLS = 18;
const CHECK_MODULUS = 1021;
const LOOKALIKES = {
  O: "0", I: "1", L: "1",
  // Cyrillic capitals that look like Latin ones, for phones set to a Cyrillic keyboard.
  "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "0", "Р": "P",
  "С": "C", "Т": "T", "Х": "X", "З": "3",
};
// Exactly Python's str.isspace(), so both sides accept the same codes (JS \s differs slightly).
const SPACE = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const SEPARATORS = "-–—_.";

function checkSymbols(values) {
  const c = values.reduce((sum, v, i) => sum + (i + 1) * v, 0) % CHECK_MODULUS;
  return ALPHABET[Math.floor(c / 32)] + ALPHABET[c % 32];
}

/**
 * The receipt's 20 canonical symbols. Forgiving like crypto/receipt.py: any case, spaces and
 * dashes, O for 0, I and L for 1, Cyrillic look-alikes.
 * @param {string} text
 * @returns {string}
 * @throws {ReceiptError} with a message a reporter understands
 */
export function normalizeReceipt(text) {
  let cleaned = "";
  for (const ch of String(text).toUpperCase()) {
    if (SPACE.test(ch) || SEPARATORS.includes(ch)) continue;
    cleaned += LOOKALIKES[ch] ?? ch;
  }
  const symbols = [...cleaned];
  if (symbols.some((ch) => !ALPHABET.includes(ch))) {
    throw new ReceiptError("a receipt code holds only digits and Latin letters");
  }
  if (symbols.length !== DATA_SYMBOLS + 2) {
    throw new ReceiptError(`a receipt code has ${DATA_SYMBOLS + 2} characters, this has ${symbols.length}`);
  }
  const values = symbols.slice(0, DATA_SYMBOLS).map((ch) => ALPHABET.indexOf(ch));
  if (checkSymbols(values) !== cleaned.slice(DATA_SYMBOLS)) {
    throw new ReceiptError("this receipt code has a typo (its check does not match)");
  }
  return cleaned;
}

/**
 * A fresh receipt code: 18 random symbols (90 bits) and 2 check symbols, canonical (no dashes).
 * @returns {string}
 */
export function generateReceipt() {
  const values = Array.from(random(DATA_SYMBOLS), (b) => b % 32); // 256 = 8 * 32: uniform
  return values.map((v) => ALPHABET[v]).join("") + checkSymbols(values);
}

/**
 * The code as a reporter writes it down: five groups of four.
 * @param {string} code
 * @returns {string}
 */
export const groupReceipt = (code) => normalizeReceipt(code).match(/.{4}/g).join("-");

/**
 * What a receipt derives (crypto/receipt.py): the lookup id the server stores and the reply key pair.
 * @param {string} text the receipt as typed
 * @returns {Promise<{code: string, lookupId: Uint8Array, replyPublicKey: Uint8Array,
 *   replyPrivateKey: Uint8Array}>} replyPrivateKey is raw, for `open`
 * @throws {ReceiptError}
 */
export async function receiptKeys(text) {
  const code = normalizeReceipt(text);
  const ikm = ascii(code.slice(0, DATA_SYMBOLS));
  const lookupId = await hkdf(ikm, EMPTY, label("receipt/lookup-id"));
  const replyPrivateKey = await hkdf(ikm, EMPTY, label("receipt/reply-key"));
  const { publicKey } = await decryptionKey(replyPrivateKey);
  return { code, lookupId, replyPublicKey: publicKey, replyPrivateKey };
}
