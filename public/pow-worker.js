// Module Web Worker: solves the waiting room's proof of work off the main thread, so the page
// stays responsive and can show progress. The solver is the same file the Worker verifies with.
import { solve } from "../domain/pow.js";

self.onmessage = async (event) => {
  const { nonce, bits } = event.data;
  const started = performance.now();
  const solution = await solve(nonce, bits, (tries) => self.postMessage({ type: "progress", tries }));
  // solve() tries 0, 1, 2, … in base 36, so the solution also tells how much work it took.
  self.postMessage({ type: "done", solution, tries: parseInt(solution, 36) + 1, ms: performance.now() - started });
};
