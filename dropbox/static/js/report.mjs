// The report form with JavaScript: everything is sealed on this device and only ciphertext is
// uploaded. Without this script (or without X25519 in WebCrypto) the same form posts to the server,
// which seals in memory. Nothing here uses innerHTML: text from anywhere goes in as textContent.
import { generateReceipt, groupReceipt, receiptKeys, seal, supported } from "./envelope.mjs";
import { CannotClean, examineOffThread, prepare, startExaminer } from "./media.mjs";
import { Link, fromHex, pieceSize, sealedSize, sendWhole, toBase64, toHex, uploadSealed } from "./upload.mjs";
import { busyLine, startWork, withWork } from "./pow.mjs";
import { mapProblem, mapWhere, setUpMap } from "./map.mjs";

const $ = (id) => document.getElementById(id);
const page = JSON.parse($("page-data").textContent);
const recipientKeys = JSON.parse($("recipient-keys").textContent);
const form = $("report-form");
// Every file chosen, from the moment it is chosen: {file, state: "checking" | "ready" | "unreadable",
// drawable, cleaned (the file as it will be sealed without its hidden data, or null), ready (a promise)}.
const chosen = [];
let examining = Promise.resolve(); // files are examined one at a time: a cheap phone decodes one photo at once
let sending = null; // the send under way: pressing Send again wakes its waits, never starts a second one
const UPLOADS_AT_ONCE = 3;
// The receipt is made before Send (it never leaves this page): its keys take a moment on a slow phone.
const makeReceipt = async () => { const code = generateReceipt(); return { code, keys: await receiptKeys(code) }; };
let receiptAhead = null;
let position = null; // the device's location, if the reporter asked for it
const PRECISION = { exact: null, "100m": 3, "1km": 2 }; // decimals kept
const ROUNDING_M = { exact: 0, "100m": 110, "1km": 1100 };

/** The page's words for `key`, with {name} placeholders filled from `values`. */
function text(key, values = {}) {
  return page.messages[key].replace(/\{(\w+)\}/g, (_, name) => values[name]);
}

function say(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

// ---------------------------------------------------------------------------------- attachments

function renderPreviews() {
  const box = $("previews");
  box.replaceChildren();
  for (const item of chosen) {
    const figure = document.createElement("figure");
    if (item.drawable) { // a picture this browser shows (a HEIC photo is sent, but not drawn here)
      const img = document.createElement("img");
      item.url ??= URL.createObjectURL(item.file);
      img.src = item.url;
      img.alt = item.file.name;
      figure.append(img);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = `${item.file.name} (${attachmentNote(item, $("keep-metadata").checked)})`;
    figure.dataset.state = item.state; // "checking" until the file is ready to be sealed
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `${page.messages.remove} ${item.file.name}`);
    remove.addEventListener("click", () => removeFile(item));
    figure.append(caption, remove);
    box.append(figure);
  }
  $("keep-metadata-box").hidden = chosen.length === 0;
}

function removeFile(item) {
  if (sending) return; // what is being sent stays as it is
  chosen.splice(chosen.indexOf(item), 1);
  if (item.url) URL.revokeObjectURL(item.url);
  renderPreviews();
}

/** What will happen to the file's hidden data, as the reporter reads it under the preview. */
function attachmentNote(item, keep) {
  if (item.state === "checking") return text("checking");
  if (item.state === "unreadable") return text("unreadable");
  if (keep) return page.messages.kept;
  return item.cleaned ? page.messages.stripped : page.messages.cannot_clean_short;
}

/** A file is part of the report from the moment it is chosen; it is examined (and its hidden data
 * removed) in the background, and Send waits for it. */
function addFiles(files) {
  for (const file of files) {
    if (chosen.length >= page.maxFiles) break;
    const item = { file, state: "checking", drawable: false, cleaned: null };
    item.ready = examining = examining
      .then(() => examineOffThread(file))
      .then((found) => Object.assign(item, found, { state: "ready" }), () => { item.state = "unreadable"; })
      .then(() => { renderPreviews(); sealAhead(); });
    chosen.push(item);
  }
  renderPreviews();
}

function setUpFiles() {
  const input = $("files");
  input.addEventListener("change", () => { const files = [...input.files]; input.value = ""; addFiles(files); });
  $("keep-metadata").addEventListener("change", () => { renderPreviews(); sealAhead(); });
  form.querySelectorAll('input[name="category"]').forEach((radio) => radio.addEventListener("change", sealAhead));
  $("keep-metadata-box").hidden = true; // shown again once a file is chosen
}

async function setUpRecorder() {
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") return;
  $("recorder").hidden = false;
  let recorder = null;
  $("record-start").addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const parts = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (event) => parts.push(event.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((track) => track.stop());
        const type = recorder.mimeType || "audio/webm";
        addFiles([new File(parts, `voice-note.${type.includes("ogg") ? "ogg" : "webm"}`, { type })]);
        say($("record-status"), page.messages.recorded);
      };
      recorder.start();
      $("record-start").hidden = true;
      $("record-stop").hidden = false;
      say($("record-status"), page.messages.recording);
    } catch {
      say($("record-status"), "");
    }
  });
  $("record-stop").addEventListener("click", () => {
    recorder?.stop();
    $("record-start").hidden = false;
    $("record-stop").hidden = true;
  });
}

// -------------------------------------------------------------------------------------- location

function setUpLocation() {
  if (!navigator.geolocation) return;
  $("geo-choice").hidden = false;
  form.querySelectorAll('input[name="where_mode"]').forEach((radio) => radio.addEventListener("change", () => {
    const device = radio.value === "device" && radio.checked;
    if (radio.checked) $("geo-options").hidden = !device;
    if (!device || position) return;
    say($("geo-status"), page.messages.locating);
    navigator.geolocation.getCurrentPosition(
      (found) => { position = found.coords; say($("geo-status"), page.messages.located); },
      () => { say($("geo-status"), page.messages.no_location); },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  }));
}

/** `where` of docs/report.md, rounded on this device to the precision the reporter chose. */
function where(data) {
  const mode = data.get("where_mode") || "none";
  if (mode === "typed") return { mode, text: data.get("where_text").trim() };
  if (mode === "place") {
    const select = $("where_place");
    const known = page.places[select.value] ?? { lat: null, lon: null }; // as the server writes it
    return { mode, place: select.selectedOptions[0]?.textContent ?? "", place_id: Number(select.value),
             lat: known.lat, lon: known.lon };
  }
  if (mode === "map") return mapWhere(data) ?? { mode: "none" }; // rounded on this device (map.mjs)
  if (mode === "device" && position) {
    const precision = $("geo-precision").value;
    const decimals = PRECISION[precision];
    const round = (x) => (decimals === null ? x : Number(x.toFixed(decimals)));
    return { mode, lat: round(position.latitude), lon: round(position.longitude), precision,
             accuracy_m: Math.round(Math.max(position.accuracy ?? 0, ROUNDING_M[precision])) };
  }
  return { mode: "none" };
}

// ---------------------------------------------------------------------------------------- sending

function problem(data) {
  if (!data.get("category")) return page.messages.choose_category;
  if (!data.get("what").trim()) return page.messages.required_what;
  if (data.get("where_mode") === "typed" && !data.get("where_text").trim()) return page.messages.required_where;
  if (mapProblem(data)) return mapProblem(data);
  return "";
}

function showProgress(fraction, line) {
  $("progress-box").hidden = false;
  $("progress").value = Math.round(fraction * 100);
  $("progress-text").textContent = line;
}

const lang = () => document.documentElement.lang || "en";

/** "1.4 MB", "350 kB", in the page's language (the browser's Intl knows the unit's words). */
function formatBytes(bytes) {
  const [unit, amount] = bytes >= 1e6 ? ["megabyte", bytes / 1e6] : ["kilobyte", Math.max(1, bytes / 1e3)];
  return new Intl.NumberFormat(lang(), { style: "unit", unit, maximumFractionDigits: unit === "megabyte" ? 1 : 0 })
    .format(amount);
}

/** "40 seconds", "3 minutes", in the page's language. */
function formatDuration(seconds) {
  const [unit, amount] = seconds < 90 ? ["second", Math.max(5, Math.ceil(seconds / 5) * 5)] : ["minute", Math.ceil(seconds / 60)];
  return new Intl.NumberFormat(lang(), { style: "unit", unit, unitDisplay: "long" }).format(amount);
}

/** Seal each cleaned attachment small enough to go whole, once a category says to whom, while the
 * reporter is still typing: on a slow phone that is a second less between Send and the receipt. An
 * envelope sealed ahead is used once, and only for the category it was sealed to. */
function sealAhead() {
  const category = form.querySelector('input[name="category"]:checked')?.value;
  const recipients = (recipientKeys[category] || []).map(fromHex);
  if (sending || !recipients.length || $("keep-metadata").checked) return;
  for (const item of chosen) {
    if (item.state !== "ready" || !item.cleaned || item.cleaned.blob.size > pieceSize(page)) continue;
    if (item.sealedAhead?.category === category) continue;
    const envelope = seal(item.cleaned.blob, recipients);
    envelope.catch(() => {}); // sealed again at Send if this failed
    item.sealedAhead = { category, envelope };
  }
}

function takeSealedAhead(item, category) {
  const ahead = item.sealedAhead;
  item.sealedAhead = null;
  return !$("keep-metadata").checked && ahead?.category === category ? ahead.envelope : null;
}

/** Send waits for every file still being examined, showing how many are ready. Then each file as it
 * will be sealed; a file that cannot be sent stops the send, by name. */
async function readyFiles(items, keep) {
  const pending = items.filter((item) => item.state === "checking");
  let done = items.length - pending.length;
  const report = () => showProgress(done / items.length, text("preparing", { done, total: items.length }));
  if (pending.length) report();
  await Promise.all(pending.map((item) => item.ready.then(() => { done += 1; report(); })));
  const prepared = [];
  for (const item of items) {
    if (item.state === "unreadable") throw Object.assign(new Error("unreadable"), { code: "unreadable", filename: item.file.name });
    if (keep) prepared.push(await prepare(item.file, true));
    else if (item.cleaned) prepared.push(item.cleaned);
    else throw new CannotClean(item.file.name);
  }
  return prepared;
}

/** Progress in bytes and the time left, from the bytes that have left so far. */
function byteProgress(total) {
  const sentBy = new Map();
  const started = performance.now();
  let waiting = false;
  const update = () => {
    if (waiting) return;
    const sent = [...sentBy.values()].reduce((sum, n) => sum + n, 0);
    const elapsed = (performance.now() - started) / 1000;
    let line = text("progress", { sent: formatBytes(sent), total: formatBytes(total) });
    if (sent > 0 && sent < total && elapsed >= 2) {
      line += ` · ${text("time_left", { left: formatDuration(((total - sent) * elapsed) / sent) })}`;
    }
    showProgress(sent / total, line);
  };
  return {
    onSent: (key) => (bytes) => { sentBy.set(key, bytes); update(); },
    setWaiting(now) {
      waiting = now;
      if (now) say($("progress-text"), text("waiting"));
      else update();
    },
  };
}

/** Run `tasks` (functions returning promises), at most `limit` at once; their results in order. */
async function inTurn(tasks, limit) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => { while (next < tasks.length) { const i = next++; results[i] = await tasks[i](); } };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

async function send(data, items, link) {
  const category = data.get("category");
  const recipients = (recipientKeys[category] || []).map(fromHex);
  const prepared = await readyFiles(items, $("keep-metadata").checked);
  showProgress(0, page.messages.sealing);
  const { code, keys } = await receiptAhead;
  receiptAhead = makeReceipt(); // a send that fails is sent again with a receipt of its own
  const doc = {
    // The desk the report is filed with: the category's target (corruption goes to internal security).
    format: "sealdrop-report/1", kind: "report", sealed_by: "browser", desk: page.targets[category],
    language: document.documentElement.lang, category: page.categories[category],
    what: data.get("what").trim(), when: (data.get("when") || "").trim(), where: where(data), contact: data.get("contact").trim(),
    reply_public: toHex(keys.replyPublicKey), case_number: null, attachments: prepared.map((p) => p.entry),
  };
  const inputs = [new TextEncoder().encode(JSON.stringify(doc)), ...prepared.map((p) => p.blob)];
  const total = inputs.reduce((sum, input) => sum + sealedSize(input, recipients), 0);
  const progress = byteProgress(total);
  link.onWaiting = (now) => { progress.setWaiting(now); $("send").disabled = !now; };
  link.onBusy = (seconds, words) => say($("progress-text"), busyLine(seconds, words)); // goes on by itself afterwards
  const call = { category: Number(category), lookup_id: toBase64(keys.lookupId), reply_public: toBase64(keys.replyPublicKey) };
  let answer;
  if (total <= pieceSize(page)) { // one request, one round trip: what a Tor circuit waits for most
    const envelopes = inputs.map((input, i) => (i > 0 && takeSealedAhead(items[i - 1], category)) || seal(input, recipients));
    answer = await withWork(link, showProgress, (pow) => sendWhole(link, { ...call, pow }, envelopes, progress.onSent("whole")));
  } else { // every envelope at once (a few at a time), resumable: their round trips overlap
    const parts = await inTurn(inputs.map((input, i) => () => uploadSealed(link, input, recipients, progress.onSent(i))), UPLOADS_AT_ONCE);
    answer = await withWork(link, showProgress, (pow) => link.call("POST", "/reports", { ...call, parts, pow }));
  }
  showReceipt(groupReceipt(code), answer.case_number);
}

/** Leaving (a reload, the back button, closing the tab) while a report is on its way asks first. */
function holdThePage(event) {
  if (document.documentElement.dataset.leaving === "quick-exit") return; // receipt.mjs: never held back
  event.preventDefault();
  event.returnValue = ""; // older browsers ask only when this is set
}

function showReceipt(receipt, caseNumber) {
  const view = $("receipt-template").content.cloneNode(true);
  view.getElementById("receipt").textContent = receipt;
  view.getElementById("case-number").textContent = caseNumber;
  const main = document.getElementById("main");
  main.replaceChildren(view);
  removeEventListener("beforeunload", holdThePage); // the receipt is on screen (receipt.mjs may guard it)
  // As on the no-JS receipt page: no language links (following one would lose the receipt), own title.
  document.querySelector("header nav")?.remove();
  document.title = [page.messages.receipt, ...document.title.split(" · ").slice(1)].join(" · ");
  const heading = main.querySelector("h1");
  heading.tabIndex = -1;
  heading.focus();
}

async function onSubmit(event) {
  event.preventDefault();
  if (sending) { sending.wake(); return; } // Send again while waiting for the network: try now, same uploads
  const data = new FormData(form);
  const error = problem(data);
  say($("send-error"), error);
  if (error) { $("send-error").focus(); return; }
  const button = $("send");
  button.disabled = true;
  $("files").disabled = true;
  addEventListener("beforeunload", holdThePage);
  sending = new Link(page);
  try {
    await send(data, [...chosen], sending);
  } catch (err) {
    removeEventListener("beforeunload", holdThePage);
    $("progress-box").hidden = true;
    say($("send-error"), failure(err));
    button.disabled = false;
    $("files").disabled = false;
    $("send-error").focus();
  } finally {
    sending.close();
    sending = null;
  }
}

/** What stopped a send, in the reporter's words, naming the file when one file stopped it. */
function failure(err) {
  const message = err.code === "unreadable" ? text("unreadable") : page.messages[err.code] || page.messages.failed;
  return err.filename ? `${err.filename}: ${message}` : message;
}

async function main() {
  setUpMap(); // the pin works even where the server seals: its point travels in the form's fields
  if (!(await supported())) {
    say($("js-fallback"), page.messages.unsupported);
    return; // the plain form stays: the server seals in memory
  }
  receiptAhead = makeReceipt();
  startWork(page); // the proof of work (dropbox/pow.py) is done while the reporter writes
  startExaminer(); // and the worker that prepares photos is ready before one is chosen
  form.addEventListener("submit", onSubmit);
  setUpFiles();
  setUpLocation();
  await setUpRecorder();
  document.documentElement.dataset.sealing = "browser"; // tests and styles can tell the paths apart
}

main();
