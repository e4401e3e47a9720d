// Proof of work for the flashsale waiting room: find `solution` such that
// SHA-256(`${nonce}:${solution}`) starts with `bits` zero bits. Plain ESM with no dependencies so
// the same file runs in the browser (a Web Worker), in Node scripts and in the Worker (verify).

/** Leading zero bits of a digest. */
export function leadingZeroBits(bytes) {
  let bits = 0;
  for (const b of bytes) {
    if (b === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(b) - 24;
  }
  return bits;
}

const encoder = new TextEncoder();

export async function powDigest(nonce, solution) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${nonce}:${solution}`)));
}

/**
 * Solves a challenge; about 2^bits hashes on average. `onProgress(tries)` is called every
 * 4096 tries so a page can show that work is happening.
 */
export async function solve(nonce, bits, onProgress) {
  if (typeof nonce !== "string" || !Number.isInteger(bits) || bits < 0 || bits > 32) {
    throw new TypeError(`solve(nonce, bits) needs a challenge's nonce and bits, got ${JSON.stringify({ nonce, bits })}`);
  }
  for (let i = 0; ; i++) {
    const solution = i.toString(36);
    if (leadingZeroBits(await powDigest(nonce, solution)) >= bits) return solution;
    if (onProgress && i % 4096 === 4095) onProgress(i + 1);
  }
}
