// The reporter pages' small helpers, loaded on every reporter page (base.html):
// - the quick exit, which with JavaScript also replaces this page's history entry, so Back does not
//   bring the page back;
// - keeping the receipt: copy, print, save as a file, and the last group typed back before Finish.
//   On the no-JS receipt page (reached with JavaScript on when this browser cannot seal) the forms go
//   to the server as they are. On the JS path (report.mjs shows _receipt.html from its <template>) the
//   server never had the receipt, so the file is made here and the typed group is checked here.

const exitLink = document.getElementById("quick-exit");
exitLink?.addEventListener("click", (event) => {
  event.preventDefault();
  // report.mjs may ask before a page with an unsent report is left; a quick exit must not be asked.
  document.documentElement.dataset.leaving = "quick-exit";
  location.replace(exitLink.href);
});

/** What the receipt box says in the reporter's language (a JSON script inside the box). */
function wordsOf(box) {
  return JSON.parse(box.querySelector(".receipt-data").textContent);
}

function say(box, text) {
  box.querySelector("#copy-status").textContent = text;
}

/** Select the code on the page, so the reporter can copy it by hand where the clipboard is refused. */
function selectCode(box) {
  const range = document.createRange();
  range.selectNodeContents(box.querySelector("#receipt"));
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyCode(box, words) {
  const code = box.querySelector("#receipt").textContent.trim();
  try {
    await navigator.clipboard.writeText(code); // needs a secure context; an onion over http may lack it
    say(box, words.copied);
  } catch {
    selectCode(box);
    say(box, words.copy_failed);
  }
}

function receiptFile(box, words) {
  const code = box.querySelector("#receipt").textContent.trim();
  const caseNumber = box.querySelector("#case-number").textContent.trim();
  const text = words.file.replace("[[receipt]]", code).replace("[[case]]", caseNumber);
  return new Blob([text.replaceAll("\n", "\r\n")], { type: "text/plain;charset=utf-8" });
}

function download(box, blob) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = "receipt.txt";
  link.hidden = true;
  box.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has started long before
}

/** The last group as typed, forgiving about case, spaces, dashes and look-alike letters (crypto.receipt). */
function cleanGroup(typed) {
  const lookalikes = { O: "0", I: "1", L: "1", "О": "0", "З": "3" };
  return [...typed.toUpperCase()].filter((ch) => !" -–—_.".includes(ch)).map((ch) => lookalikes[ch] || ch).join("");
}

let kept = false; // the last group was typed back: leaving the receipt no longer asks

/** A reload or a link away would lose the receipt for good (the server does not keep it): ask first,
 *  unless the reporter is using the receipt's own forms or the quick exit. */
function holdTheReceipt(box, event) {
  if (kept || document.documentElement.dataset.leaving === "quick-exit") return;
  const active = document.activeElement;
  if (active?.form && box.contains(active)) return; // save as a file, or Finish sent to the server
  event.preventDefault();
  event.returnValue = ""; // older browsers ask only when this is set
}

function checkLastGroup(box, words, event) {
  event.preventDefault();
  const code = box.querySelector("#receipt").textContent.trim();
  const input = box.querySelector("#last-group");
  const error = box.querySelector("#last-group-error");
  if (cleanGroup(input.value) === code.split("-").at(-1)) {
    kept = true;
    location.replace(words.done); // Back then skips the receipt: nothing secret stays in the history
    return;
  }
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", error.id);
  input.focus();
}

/** Wire one receipt box; a box is wired once. */
export function enhanceReceipt(box) {
  if (!box || box.dataset.enhanced) return;
  box.dataset.enhanced = "yes";
  const words = wordsOf(box);
  addEventListener("beforeunload", (event) => holdTheReceipt(box, event));
  const copy = box.querySelector("#copy-receipt");
  const print = box.querySelector("#print-receipt");
  copy.hidden = false;
  print.hidden = false;
  copy.addEventListener("click", () => copyCode(box, words));
  print.addEventListener("click", () => window.print());
  const save = box.querySelector("#save-receipt-form");
  if (save.elements.receipt_sealed.value) return; // the server's receipt: its forms work as they are
  save.addEventListener("submit", (event) => {
    event.preventDefault();
    download(box, receiptFile(box, words));
    say(box, words.saved);
  });
  box.querySelector("#finish-form").addEventListener("submit", (event) => checkLastGroup(box, words, event));
}

function scan() {
  const box = document.querySelector("#main #receipt")?.closest(".receipt-box");
  if (box) enhanceReceipt(box);
}

// report.mjs puts the receipt into <main> when the report is filed: wire it as soon as it is there.
const main = document.getElementById("main");
if (main) new MutationObserver(scan).observe(main, { childList: true });
scan();
