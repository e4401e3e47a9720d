// The shopper page's side of the API: domain/client.js over fetch with the page's retry rules,
// plus the small helpers the page needs: a per-sale state kept in sessionStorage (so a reload
// resumes) and formatting.
import { createClient, fetchTransport } from "../domain/client.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const send = fetchTransport("", { cache: "no-store" });

/**
 * The page's transport: busy answers (429 rate_limited, 503 unavailable) and network failures
 * are retried a few times with the server's Retry-After: claims and payments carry idempotency
 * keys and polls are reads, so a repeat is safe. Per call: `retries` (default 3) and
 * `onRetry(message)` to tell the shopper.
 */
async function retrying(method, path, { retries = 3, onRetry, ...init }) {
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await send(method, path, init);
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

/** A random key for one claim attempt (Idempotency-Key: 8-64 of [A-Za-z0-9._:-]). */
export const newKey = () => `web-${crypto.randomUUID()}`;

/** This tab's progress in one sale: session, ticket, pass, hold, order. */
export function saleState(saleId) {
  const key = `flashsale:${saleId}`;
  let value = {};
  try {
    value = JSON.parse(sessionStorage.getItem(key) ?? "{}") ?? {};
  } catch {
    value = {};
  }
  return {
    value,
    save() {
      try {
        sessionStorage.setItem(key, JSON.stringify(value));
      } catch {
        // Storage full or disabled: the page still works, a reload just starts over.
      }
    },
    /** Forgets everything but the session (a new attempt in the same sale). */
    resetAttempt() {
      for (const k of ["claimKey", "holdId", "orderId", "waitlisted"]) delete value[k];
      this.save();
    },
  };
}

/** Prices are in minor units; the currency's own number of decimals decides the divisor. */
export function money(minor, currency) {
  const f = new Intl.NumberFormat(undefined, { style: "currency", currency });
  return f.format(minor / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
}

export const count = (n) => new Intl.NumberFormat().format(n);

export const when = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));

/** 0:07, 4:05, 3:04:05, 2 d 03:04:05. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  const hms = h > 0 || d > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  return d > 0 ? `${d} d ${hms.padStart(8, "0")}` : hms;
}

/** An estimate in words: "under a minute", "about 3 minutes". */
export function roughly(seconds) {
  if (seconds == null) return "unknown";
  if (seconds < 60) return seconds <= 5 ? "a few seconds" : "under a minute";
  const m = Math.round(seconds / 60);
  if (m < 60) return `about ${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.round(m / 60);
  return `about ${h} hour${h === 1 ? "" : "s"}`;
}
