// The shopper page's side of the API: domain/client.js over fetch, with the page's retry rules.
import { createClient, fetchTransport } from "../domain/client.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const send = fetchTransport("", { cache: "no-store" });

/**
 * The page's transport: busy answers (429 rate_limited, 503 unavailable) and network failures
 * are retried a few times with the server's Retry-After: claims and payments carry idempotency
 * keys and polls are reads, so a repeat is safe. Per call: `retries` (default 3) and
 * `onRetry(message)` to tell the shopper.
 */
/**
 * @param {string} method @param {string} path
 * @param {{ retries?: number, onRetry?: (message: string) => void, headers: Record<string, string>, body?: string }} init
 * @returns {Promise<Response>}
 */
async function retrying(method, path, { retries = 3, onRetry, ...init }) {
  for (let attempt = 0; ; attempt++) {
    /** @type {Response} */
    let res;
    try {
      res = /** @type {Response} */ (await send(method, path, init));
    } catch {
      if (attempt >= retries) throw new Error("network: the server could not be reached");
      onRetry?.("Connection lost, retrying…");
      await sleep(1000 * 2 ** attempt);
      continue;
    }
    if ((res.status === 429 || res.status === 503) && attempt < retries) {
      const wait = Math.min(10, Number(res.headers.get("retry-after")) || 1);
      onRetry?.(res.status === 429 ? `Busy: retrying in ${wait} s…` : "The sale is busy, retrying…");
      await sleep(wait * 1000);
      continue;
    }
    return res;
  }
}

/** The API for this page: `{ status, body, headers }` answers (errors are `{ error, message, … }`). */
export const api = createClient({ transport: retrying });

/** A refusal the step that got it does not handle itself: `code` is the API's error code. */
export class ApiFailure extends Error {
  constructor(r) {
    super(r.body?.message ?? `HTTP ${r.status}`);
    this.status = r.status;
    this.code = r.body?.error;
    this.body = r.body ?? {};
  }
}

/** A random key for one claim attempt (Idempotency-Key: 8-64 of [A-Za-z0-9._:-]). */
export const newKey = () => `web-${crypto.randomUUID()}`;
