// Proof of work for simulated shoppers: public/pow.js's search (candidates 0, 1, 2, … in base
// 36, first hit wins: the same answer a browser finds), with node:crypto's synchronous SHA-256
// instead of one awaited WebCrypto digest per try. That is ~20× cheaper here (0.7 ms vs 15 ms
// per 8-bit solve), CPU the 2-core box would otherwise take from the server under test.
// `--pow-solver webcrypto` uses pow.js's own solve().
import { createHash } from "node:crypto";
import { leadingZeroBits, solve as solveWebCrypto } from "../../domain/pow.js";

export function solveSync(nonce, bits) {
  for (let i = 0; ; i++) {
    const solution = i.toString(36);
    if (leadingZeroBits(createHash("sha256").update(`${nonce}:${solution}`).digest()) >= bits) return solution;
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
