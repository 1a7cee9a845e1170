// The report form with JavaScript: everything is sealed on this device and only ciphertext is
// uploaded. Without this script (or without X25519 in WebCrypto) the same form posts to the server,
// which seals in memory. Nothing here uses innerHTML: text from anywhere goes in as textContent.
import { generateReceipt, groupReceipt, receiptKeys, supported } from "./envelope.mjs";
import { canClean, isImage, looksLikePicture, prepare, untyped } from "./media.mjs";
import { api, fromHex, toBase64, toHex, uploadSealed } from "./upload.mjs";

const $ = (id) => document.getElementById(id);
const page = JSON.parse($("page-data").textContent);
const recipientKeys = JSON.parse($("recipient-keys").textContent);
const form = $("report-form");
const chosen = []; // {file, picture, cleanable}
let position = null; // the device's location, if the reporter asked for it
const PRECISION = { exact: null, "100m": 3, "1km": 2 }; // decimals kept
const ROUNDING_M = { exact: 0, "100m": 110, "1km": 1100 };

function say(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

// ---------------------------------------------------------------------------------- attachments

function renderPreviews() {
  const box = $("previews");
  box.replaceChildren();
  chosen.forEach((item, index) => {
    const figure = document.createElement("figure");
    if (item.picture && item.cleanable) {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(item.file);
      img.alt = item.file.name;
      figure.append(img);
    }
    const caption = document.createElement("figcaption");
    const keep = $("keep-metadata").checked;
    caption.textContent = `${item.file.name} (${attachmentNote(item, keep)})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `${page.messages.remove} ${item.file.name}`);
    remove.addEventListener("click", () => { chosen.splice(index, 1); renderPreviews(); });
    figure.append(caption, remove);
    box.append(figure);
  });
  $("keep-metadata-box").hidden = !chosen.some((item) => item.picture);
}

/** What will happen to the file's hidden data, as the reporter reads it under the preview. */
function attachmentNote(item, keep) {
  if (!item.picture || keep) return page.messages.kept;
  return item.cleanable ? page.messages.stripped : page.messages.cannot_clean_short;
}

async function addFiles(files) {
  for (const file of files) {
    if (chosen.length >= page.maxFiles) break;
    const picture = isImage(file) || (untyped(file) && (await looksLikePicture(file)));
    chosen.push({ file, picture, cleanable: picture && (await canClean(file)) });
  }
  renderPreviews();
}

function setUpFiles() {
  const input = $("files");
  input.addEventListener("change", async () => { const files = [...input.files]; input.value = ""; await addFiles(files); });
  $("keep-metadata").addEventListener("change", renderPreviews);
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
  return "";
}

function showProgress(fraction, text) {
  $("progress-box").hidden = false;
  $("progress").value = Math.round(fraction * 100);
  $("progress-text").textContent = text;
}

async function send(data) {
  const category = data.get("category");
  const recipients = (recipientKeys[category] || []).map(fromHex);
  const code = generateReceipt();
  const keys = await receiptKeys(code);
  showProgress(0, page.messages.sealing);
  const keep = $("keep-metadata").checked;
  const prepared = [];
  for (const item of chosen) prepared.push(await prepare(item.file, keep));
  const doc = {
    // The desk the report is filed with: the category's target (corruption goes to internal security).
    format: "sealdrop-report/1", kind: "report", sealed_by: "browser", desk: page.targets[category],
    language: document.documentElement.lang, category: page.categories[category],
    what: data.get("what").trim(), when: (data.get("when") || "").trim(), where: where(data), contact: data.get("contact").trim(),
    reply_public: toHex(keys.replyPublicKey), case_number: null, attachments: prepared.map((p) => p.entry),
  };
  const report = new TextEncoder().encode(JSON.stringify(doc));
  const totalBytes = report.length + prepared.reduce((sum, p) => sum + p.blob.size, 0);
  let sent = 0;
  const onBytes = (n) => { sent += n; showProgress(Math.min(1, sent / totalBytes), page.messages.uploading); };
  const parts = [await uploadSealed(page, report, recipients, onBytes)];
  for (const p of prepared) parts.push(await uploadSealed(page, p.blob, recipients, onBytes));
  const { case_number: caseNumber } = await api(page, "POST", "/reports", {
    category: Number(category), parts, lookup_id: toBase64(keys.lookupId), reply_public: toBase64(keys.replyPublicKey),
  });
  showReceipt(groupReceipt(code), caseNumber);
}

function showReceipt(receipt, caseNumber) {
  const view = $("receipt-template").content.cloneNode(true);
  view.getElementById("receipt").textContent = receipt;
  view.getElementById("case-number").textContent = caseNumber;
  const main = document.getElementById("main");
  main.replaceChildren(view);
  // As on the no-JS receipt page: no language links (following one would lose the receipt), own title.
  document.querySelector("header nav")?.remove();
  document.title = [page.messages.receipt, ...document.title.split(" · ").slice(1)].join(" · ");
  const heading = main.querySelector("h1");
  heading.tabIndex = -1;
  heading.focus();
}

async function onSubmit(event) {
  event.preventDefault();
  const data = new FormData(form);
  const error = problem(data);
  say($("send-error"), error);
  if (error) { $("send-error").focus(); return; }
  const button = $("send");
  button.disabled = true;
  try {
    await send(data);
  } catch (err) {
    console.error(err);
    const message = page.messages[err.code] || page.messages.failed;
    say($("send-error"), err.filename ? `${err.filename}: ${message}` : message);
    button.disabled = false;
  }
}

async function main() {
  if (!(await supported())) {
    say($("js-fallback"), page.messages.unsupported);
    return; // the plain form stays: the server seals in memory
  }
  form.addEventListener("submit", onSubmit);
  setUpFiles();
  setUpLocation();
  await setUpRecorder();
  document.documentElement.dataset.sealing = "browser"; // tests and styles can tell the paths apart
}

main();
