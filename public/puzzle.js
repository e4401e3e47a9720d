// The waiting room's proof of work, run in a module Web Worker (public/pow-worker.js, which
// imports domain/pow.js) so the page stays responsive, with its progress on screen.
import { count } from "./format.js";
import { $, setText } from "./page.js";

/** Solves the challenge; `onProgress(tries)` every few thousand tries. */
export function solvePow(nonce, bits, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./pow-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (e) => {
      if (e.data.type === "progress") return onProgress(e.data.tries);
      worker.terminate();
      resolve(e.data);
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`the puzzle solver failed: ${e.message ?? "unknown error"}`));
    };
    worker.postMessage({ nonce, bits });
  });
}

/** Before the challenge arrives: an indeterminate bar. */
export function powStarting() {
  const bar = $("pow-progress");
  bar.removeAttribute("value");
  bar.dataset.tries = "0";
  bar.dataset.state = "starting";
  setText("pow-label", "Checking this is a real browser");
  setText("pow-detail", "Your browser solves a small puzzle once, so bots can't flood the line. Keep this tab open.");
}

/** Progress of the proof of work: the chance a solver would be done after `tries` (never 100% early). */
export function showPowProgress(tries, bits, done) {
  const bar = $("pow-progress");
  const expected = 2 ** bits;
  bar.value = done ? 100 : Math.min(99, Math.round(100 * (1 - Math.exp(-tries / expected))));
  bar.dataset.tries = String(tries);
  bar.dataset.state = done ? "done" : "solving";
  setText("pow-label", done ? "Check complete" : "Checking this is a real browser");
  if (done) setText("pow-detail", `Solved after ${count(tries)} tries in ${(done.ms / 1000).toFixed(1)} s. Joining the line…`);
  else
    setText(
      "pow-detail",
      `Solving a small puzzle so bots can't flood the line: ${count(tries)} of about ${count(expected)} tries. Keep this tab open.`,
    );
}
