// Examines a chosen file away from the page's main thread (media.mjs, `examine`): decoding and redrawing
// a 12 MP photo takes seconds of a cheap phone's CPU, and the reporter goes on typing meanwhile. The
// file and the cleaned Blob cross the thread boundary by reference, not as copies.
import { examine } from "./media.mjs";

addEventListener("message", async ({ data: { id, file } }) => {
  try {
    postMessage({ id, found: await examine(file) });
  } catch {
    postMessage({ id, unreadable: true });
  }
});
