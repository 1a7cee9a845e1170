// Solves a proof-of-work challenge (dropbox/pow.py) off the page's thread, so typing stays smooth.
// Each try is one PBKDF2 in WebCrypto: native code, as a bot's would be, so the reporter's phone is not
// the slow party. A few tries run at once (WebCrypto works on threads of its own). Messages out:
// {progress: 0..1} now and then, then {nonces: [...]}.
const AT_ONCE = 8;

/** The nonce as PBKDF2's salt: 8 bytes, big-endian, as the server packs it. */
function salt(nonce) {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, Math.floor(nonce / 2 ** 32));
  view.setUint32(4, nonce >>> 0);
  return bytes;
}

async function holds(key, nonce, iterations, limit) {
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: salt(nonce), iterations }, key, 256);
  return new DataView(bits).getUint32(0) < limit;
}

async function solve({ challenge, work, iterations, proofs }) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(challenge), "PBKDF2", false, ["deriveBits"]);
  const limit = Math.min(2 ** 32, Math.floor((2 ** 32 * proofs) / work)); // as pow.threshold
  const found = [];
  for (let start = 0; found.length < proofs; start += AT_ONCE) {
    const nonces = Array.from({ length: AT_ONCE }, (_, i) => start + i);
    const results = await Promise.all(nonces.map((n) => holds(key, n, iterations, limit)));
    found.push(...nonces.filter((_, i) => results[i]));
    // Expected, not promised: the search's length varies, so the bar never claims to be done early.
    postMessage({ progress: Math.min(0.95, (start + AT_ONCE) / work) });
  }
  return found.slice(0, proofs);
}

onmessage = async ({ data }) => {
  try {
    postMessage({ nonces: await solve(data) });
  } catch (error) {
    postMessage({ error: String(error) });
  }
};
