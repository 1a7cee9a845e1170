// The proof of work every report call carries (dropbox/pow.py): the page asks for a challenge as soon
// as the form is open and solves it in a Web Worker while the reporter types, so Send rarely waits. If
// Send comes first, the page says it is getting ready to send, with progress. A solution the server
// refuses (spent, expired, or solved at a lower level than the desk's load now asks) is replaced by a
// fresh one and the same report is sent again: nothing the reporter prepared is lost.
import { api, waitWords } from "./upload.mjs";

const EXPIRY_MARGIN_MS = 60_000; // a solution this close to its expiry is not worth sending
const MAX_REFUSALS = 10; // fresh challenges in a row for one report before the send stops with an error
let ahead = null; // {solution: Promise<{challenge, nonces}>, expires: ms, progress, messages}
let messages = { getting_ready: "", busy: "" }; // the server's words, in the page's language

const lang = () => document.documentElement.lang || "en";

/** Solve `challenge` in a worker; `onProgress(fraction)` as it goes. */
function solveInWorker(challenge, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./pow-worker.mjs", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      if (data.progress !== undefined) return onProgress(data.progress);
      worker.terminate();
      if (data.nonces) resolve({ challenge: challenge.challenge, nonces: data.nonces });
      else reject(Object.assign(new Error(data.error), { code: "failed" }));
    };
    worker.onerror = (event) => { worker.terminate(); reject(Object.assign(new Error(event.message), { code: "failed" })); };
    worker.postMessage(challenge);
  });
}

/** Fetch a challenge (through `get`, a function of a path), or take the one `given` by the page, and
 * start solving it. */
async function begin(get, given = null) {
  const requested = Date.now();
  const challenge = given || (await get(`/challenge?lang=${encodeURIComponent(lang())}`));
  messages = challenge.messages || messages;
  const work = { expires: requested + challenge.expires_in * 1000, progress: 0, listeners: new Set() };
  work.solution = solveInWorker(challenge, (fraction) => {
    work.progress = fraction;
    for (const listener of work.listeners) listener(fraction);
  });
  work.solution.then(() => { work.done = true; }, () => {});
  return work;
}

/** Called once the form is open: the work starts while the reporter writes, on the challenge the page
 * came with (no round trip: on a Tor circuit that is 1.5 s). A failure here (offline) is no matter:
 * the work is then done at Send, through the send's own retrying link. */
export function startWork(page) {
  const started = begin((path) => api(page, "GET", path), page.challenge);
  started.catch(() => {});
  ahead = started;
}

async function current(link) {
  let work = ahead && (await ahead.catch(() => null));
  if (!work || Date.now() > work.expires - EXPIRY_MARGIN_MS) {
    ahead = begin((path) => link.call("GET", path));
    work = await ahead;
  }
  return work;
}

/**
 * Run `attempt(solution)` (the report call) with a solved challenge; while the solution is not ready
 * yet, `show(fraction, line)` tells the reporter. A refusal of the work itself gets a fresh challenge
 * and the same attempt again.
 */
export async function withWork(link, show, attempt) {
  for (let refusals = 0; ; refusals++) {
    const work = await current(link);
    let solution = null;
    const waiting = (fraction) => { if (!solution) show(fraction, messages.getting_ready); };
    work.listeners.add(waiting);
    if (!work.done) waiting(work.progress);
    solution = await work.solution;
    work.listeners.delete(waiting);
    try {
      return await attempt(solution);
    } catch (error) {
      if (!String(error.code).startsWith("pow_") || refusals >= MAX_REFUSALS) throw error;
      ahead = null; // spent, expired or too little for the desk's load now: a fresh one
    }
  }
}

/** Why the report waits and for how long: the desk's budget is spent for now (429, dropbox/budget.py). */
export function busyLine(seconds, words = "") {
  return (messages.busy || "").replace("{left}", words || waitWords(seconds));
}
