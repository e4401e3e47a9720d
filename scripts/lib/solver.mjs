// Proof of work for simulated shoppers: public/pow.js's search (candidates 0, 1, 2, … in base
// 36, first hit wins: the same answer a browser finds), with node:crypto's synchronous SHA-256
// instead of one awaited WebCrypto digest per try. That is ~20× cheaper here (0.7 ms vs 15 ms
// per 8-bit solve), CPU the 2-core box would otherwise take from the server under test.
// `--pow-solver webcrypto` uses pow.js's own solve(). `threadSolver()` runs the same search on a
// worker thread: for the bots, whose sessions pay extra bits (a few thousand hashes each), so
// that their work does not stall the honest shoppers' event loop.
import { createHash, hash } from "node:crypto";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { leadingZeroBits, solve as solveWebCrypto } from "../../domain/pow.js";

// crypto.hash (Node ≥ 20.12) is the one-shot digest: a third cheaper than createHash per try.
const sha256 = hash ? (s) => hash("sha256", s, "buffer") : (s) => createHash("sha256").update(s).digest();

export function solveSync(nonce, bits) {
  for (let i = 0; ; i++) {
    const solution = i.toString(36);
    if (leadingZeroBits(sha256(`${nonce}:${solution}`)) >= bits) return solution;
  }
}

/** The solver to use; checks once that the fast one finds exactly what pow.js finds. */
export async function powSolver(kind = "node") {
  if (kind === "webcrypto") return solveWebCrypto;
  for (const nonce of ["0123456789abcdef0123456789abcdef", "rehearsal-self-test-nonce-000001"]) {
    const [a, b] = [await solveWebCrypto(nonce, 10), solveSync(nonce, 10)];
    if (a !== b) throw new Error(`the fast PoW solver disagrees with public/pow.js (${b} vs ${a}): use --pow-solver webcrypto`);
  }
  return async (nonce, bits) => solveSync(nonce, bits);
}

/** `solveSync` on a worker thread: `{ solve(nonce, bits) → Promise<solution>, close() }`. */
export function threadSolver() {
  const worker = new Worker(new URL(import.meta.url));
  worker.unref();
  const waiting = new Map();
  let next = 0;
  worker.on("message", ({ id, solution }) => {
    waiting.get(id)?.(solution);
    waiting.delete(id);
  });
  return {
    solve: (nonce, bits) =>
      new Promise((resolve) => {
        const id = next++;
        waiting.set(id, resolve);
        worker.postMessage({ id, nonce, bits });
      }),
    close: () => worker.terminate(),
  };
}

// On the worker thread: solve what the main thread sends.
if (!isMainThread && parentPort)
  parentPort.on("message", ({ id, nonce, bits }) => parentPort.postMessage({ id, solution: solveSync(nonce, bits) }));
