// Signing back in with JavaScript: the receipt code never leaves this page. The browser derives the
// lookup id (sent) and the reply key (kept), fetches the sealed replies and opens them here.
import { open, receiptKeys, ReceiptError, supported } from "./envelope.mjs";
import { prepare } from "./media.mjs";
import { Link, api, fromBase64, fromHex, toBase64, uploadSealed, waitWords } from "./upload.mjs";

const $ = (id) => document.getElementById(id);
const page = JSON.parse($("page-data").textContent);
const form = $("check-form");
const STATUS = page.statuses;

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function fail(text) {
  const box = $("check-error");
  box.textContent = text;
  box.hidden = false;
  $("receipt-input").setAttribute("aria-invalid", "true");
  $("receipt-input").setAttribute("aria-describedby", "check-error receipt-hint");
  box.focus();
}

async function openReplies(replies, keys) {
  const opened = [];
  for (const sealed of replies) {
    try {
      opened.push(JSON.parse(new TextDecoder().decode(await open(fromBase64(sealed), [keys.replyPrivateKey]))));
    } catch {
      opened.push({ text: page.messages.unreadable });
    }
  }
  return opened;
}

function renderCase(state, replies) {
  const view = $("case-view");
  const status = [...replies].reverse().find((r) => r.status)?.status || "received";
  const heading = element("h1", page.messages.your_case, { tabindex: "-1" });
  const number = element("p", `${page.messages.case} `);
  number.append(element("strong", state.case_number, { id: "case-number" }));
  const statusLine = element("p", `${page.messages.status} `);
  statusLine.append(element("strong", STATUS[status] || status, { id: "case-status" }));
  const section = element("section");
  section.append(element("h2", page.messages.replies));
  if (!replies.length) section.append(element("p", page.messages.no_replies, { id: "no-replies" }));
  for (const reply of replies) {
    // A reply may be a status change alone: it reads as one, never as an empty dated answer.
    const text = (reply.text || "").trim();
    const changed = reply.status ? page.messages.status_changed.replace("%(status)s", STATUS[reply.status] || reply.status) : "";
    const statusOnly = !text && Boolean(changed);
    const article = element("article", undefined, { class: statusOnly ? "reply status-change" : "reply" });
    article.append(element("p", reply.day || "", { class: "meta" }), element("p", statusOnly ? changed : text, { class: "text" }));
    if (!statusOnly && changed) article.append(element("p", changed, { class: "meta" }));
    section.append(article);
  }
  view.replaceChildren(heading, number, statusLine, section);
  form.hidden = true;
  $("check-title").hidden = true; // one page, one h1: the case replaces the sign-in form
  document.title = [page.messages.your_case, ...document.title.split(" · ").slice(1)].join(" · ");
  heading.focus();
}

function renderAddForm(state, keys) {
  if (!state.recipients.length) return;
  const template = $("add-template").content.cloneNode(true);
  const addForm = template.querySelector("form");
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const what = addForm.querySelector("textarea").value.trim();
    const note = addForm.querySelector(".add-status");
    if (!what) { note.textContent = page.messages.required_what; return; }
    addForm.querySelector("button").disabled = true;
    note.textContent = page.messages.sending;
    try {
      const recipients = state.recipients.map(fromHex);
      const prepared = [];
      const keep = addForm.querySelector("#add-keep-metadata").checked;
      for (const file of addForm.querySelector("input[type=file]").files) prepared.push(await prepare(file, keep));
      const doc = { format: "sealdrop-report/1", kind: "addition", sealed_by: "browser", desk: state.desk,
        language: document.documentElement.lang, category: null, what, when: "", where: { mode: "none" }, contact: "",
        reply_public: null, case_number: state.case_number, attachments: prepared.map((p) => p.entry) };
      const link = new Link(page); // a dropped link is waited out, as for a report
      try {
        const parts = [await uploadSealed(link, new TextEncoder().encode(JSON.stringify(doc)), recipients)];
        for (const p of prepared) parts.push(await uploadSealed(link, p.blob, recipients));
        await link.call("POST", "/additions", { lookup_id: toBase64(keys.lookupId), parts });
      } finally {
        link.close();
      }
      addForm.replaceChildren(element("p", page.messages.added, { class: "ok", role: "status", id: "added" }));
    } catch (error) {
      note.textContent = error.code === "cannot_clean" ? `${error.filename}: ${page.messages.cannot_clean}` : page.messages.add_failed;
      addForm.querySelector("button").disabled = false;
    }
  });
  $("case-view").append(template);
}

async function onSubmit(event) {
  event.preventDefault();
  let keys;
  try {
    keys = await receiptKeys($("receipt-input").value);
  } catch (error) {
    if (error instanceof ReceiptError) return fail(/typo/.test(error.message) ? page.messages.receipt_typo : page.messages.receipt_format);
    throw error;
  }
  try {
    const state = await api(page, "POST", "/case", { lookup_id: toBase64(keys.lookupId) });
    renderCase(state, await openReplies(state.replies, keys));
    renderAddForm(state, keys);
  } catch (error) {
    fail(signInFailure(error));
  }
}

/** What the reporter reads when the server did not open the case. */
function signInFailure(error) {
  if (error.status === 404) return page.messages.receipt_unknown;
  if (error.status === 429 && error.retryAfter > 0) { // the sign-in budget is spent for now (dropbox/budget.py)
    const wait = error.waitWords || waitWords(error.retryAfter);
    return `${page.messages.signins_busy}. ${page.messages.signin_again.replace("%(wait)s", wait)}`;
  }
  return page.messages.failed;
}

if (await supported()) { // else the form posts: no-JS path
  form.addEventListener("submit", onSubmit);
  document.documentElement.dataset.sealing = "browser"; // tests can tell when the script took over
}
