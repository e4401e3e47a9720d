// The shopper's (and the operator's) side of the public JSON API, once for every caller: the
// page, the shop script, the rehearsal, the bench's setup and the tests. Plain ESM with no
// dependencies beyond pow.js, so it runs in the browser (bundled), in Node and in workerd.
//
// The transport is injected, so each caller keeps its own way of sending: the page passes fetch
// (with its retry rules), the tests the Worker's handler in their isolate, the rehearsal its
// keep-alive pool. Policy (retries, think time, what an answer means for a UI) stays with the
// caller; this file only knows the routes, the headers and how an answer is read.
import { solve as powSolve } from "./pow.js";

/**
 * A transport over fetch: `base` is prepended to the path (empty for a page on the same
 * origin), `init` is added to every request (e.g. `{ cache: "no-store" }`).
 */
export function fetchTransport(base = "", init = {}) {
  return (method, path, { headers, body }) => fetch(`${base}${path}`, { ...init, method, headers, body });
}

/** A refused step of a multi-request helper (join, admit); `answer` is what the server said. */
export class ApiError extends Error {
  constructor(what, answer) {
    super(`${what}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
    this.name = "ApiError";
    this.answer = answer;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads a transport's answer (a fetch Response, or `{ status, headers, text }` plus any fields of
 * the transport's own, e.g. timings, which are passed on). The one non-JSON fallback: an answer
 * that is not JSON (a proxy's HTML page, an empty body) reads as a `bad_response` error.
 */
async function read(answer) {
  const response = typeof answer.text === "function";
  const extra = response ? {} : (({ text, status, headers, ...rest }) => rest)(answer);
  const text = response ? await answer.text() : (answer.text ?? "");
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: "bad_response", message: `unexpected answer (HTTP ${answer.status})`, raw: String(text) };
  }
  return {
    ...extra,
    status: answer.status,
    headers: answer.headers instanceof Headers ? answer.headers : new Headers(answer.headers ?? {}),
    body,
  };
}

/**
 * @param {object} o
 * @param {(method: string, path: string, init: object) => Promise<object>} o.transport
 * @param {Record<string, string>} [o.headers] sent with every request (the caller's User-Agent, …)
 * @param {(method: string, path: string, answer: object) => void} [o.onAnswer] sees every answer
 */
export function createClient({ transport, headers: defaults = {}, onAnswer }) {
  /**
   * One request. `json` is sent as a JSON body, `body` as it is (a raw string); `token` becomes
   * the bearer; `headers` win over everything. Other options go to the transport unchanged.
   * @param {string} method
   * @param {string} path
   * @param {{ token?: string, headers?: Record<string, string | undefined>, json?: unknown, body?: string, [option: string]: any }} [o]
   */
  async function request(method, path, { token, headers, json, body, ...options } = {}) {
    /** @type {Record<string, string>} */
    const h = { accept: "application/json", ...defaults };
    if (token) h.authorization = `Bearer ${token}`;
    if (json !== undefined) h["content-type"] = "application/json";
    for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) h[k] = v;
    const answer = await read(
      await transport(method, path, { ...options, headers: h, body: json !== undefined ? JSON.stringify(json) : body }),
    );
    onAnswer?.(method, path, answer);
    return answer;
  }

  const withHeaders = (options, headers) => ({ ...options, headers: { ...headers, ...options.headers } });

  const api = {
    request,
    /**
     * POST /api/session: a session for the shop's account when `identity` (the shop's signed
     * assertion) is given, else an anonymous one (201 `{ token, user_id, account, expires_at }`).
     * @param {{ identity?: string, turnstile?: string, [option: string]: any }} [o]
     */
    session: ({ identity, turnstile, ...options } = {}) =>
      request("POST", "/api/session", { ...options, ...(identity || turnstile ? { json: { identity, turnstile } } : {}) }),
    /** GET /api/sales/:id: public sale info and availability. */
    sale: (saleId, options = {}) => request("GET", `/api/sales/${saleId}`, options),
    /** POST /api/sales/:id/challenge: a proof-of-work challenge `{ challenge, nonce, bits }`. */
    challenge: (saleId, token, options = {}) => request("POST", `/api/sales/${saleId}/challenge`, { ...options, token }),
    /**
     * POST /api/sales/:id/queue: a solved challenge ⇒ a place in line (a ticket, and a pass once
     * admitted). With the shopper's `ticket`, the place it holds is kept.
     */
    queue: (saleId, token, { challenge, solution, turnstile, ticket }, options = {}) =>
      request("POST", `/api/sales/${saleId}/queue`, {
        ...withHeaders(options, ticket ? { "x-ticket": ticket } : {}),
        token,
        json: { challenge, solution, ...(turnstile ? { turnstile } : {}) },
      }),
    /** GET /api/sales/:id/queue: the place in line for a ticket (a renewed ticket, a pass once admitted). */
    poll: (saleId, token, ticket, options = {}) =>
      request("GET", `/api/sales/${saleId}/queue`, { ...withHeaders(options, { "x-ticket": ticket }), token }),
    /** POST /api/sales/:id/claim: a hold; the key makes a repeat answer the same hold. */
    claim: (saleId, token, { pass, key, qty }, options = {}) =>
      request("POST", `/api/sales/${saleId}/claim`, {
        ...withHeaders(options, { "idempotency-key": key, ...(pass ? { "x-pass": pass } : {}) }),
        token,
        json: qty === undefined ? {} : { qty },
      }),
    /** GET /api/holds/:id */
    hold: (holdId, token, options = {}) => request("GET", `/api/holds/${holdId}`, { ...options, token }),
    /** GET /api/sales/:id/holds: this shopper's holds in a sale. */
    holds: (saleId, token, options = {}) => request("GET", `/api/sales/${saleId}/holds`, { ...options, token }),
    /** DELETE /api/holds/:id */
    cancel: (holdId, token, options = {}) => request("DELETE", `/api/holds/${holdId}`, { ...options, token }),
    /** POST /api/holds/:id/pay */
    pay: (holdId, token, paymentMethod, options = {}) =>
      request("POST", `/api/holds/${holdId}/pay`, { ...options, token, json: { payment_method: paymentMethod } }),
    /** GET /api/orders/:id */
    order: (orderId, token, options = {}) => request("GET", `/api/orders/${orderId}`, { ...options, token }),

    /**
     * Challenge → solve → queue: the queue's answer, whatever it is (throws if no challenge).
     * @param {string} saleId @param {string} token
     * @param {{ solve?: (nonce: string, bits: number) => Promise<string>, turnstile?: string, ticket?: string }} [o]
     * @param {object} [options]
     */
    async join(saleId, token, { solve = powSolve, turnstile, ticket } = {}, options = {}) {
      const ch = await api.challenge(saleId, token, options);
      if (ch.status !== 200) throw new ApiError("challenge", ch);
      const solution = await solve(ch.body.nonce, ch.body.bits);
      return api.queue(saleId, token, { challenge: ch.body.challenge, solution, turnstile, ticket }, options);
    },

    /**
     * Challenge → solve → queue → poll until admitted: the answer that carries the pass. Polls at
     * the interval the server suggests (`refresh_s`), kept within [minPollMs, maxPollMs], at most
     * `maxPolls` times. A shopper whose time to claim ran out (`expired`) queues again, at the
     * back, up to `maxRejoins` times. Throws an ApiError on a refusal, on `sold_out`, when the polls run out, or,
     * with `waitForOpening: false`, on a pre-queue place (drawn only when the sale opens).
     * @param {string} saleId @param {string} token
     * @param {{ solve?: (nonce: string, bits: number) => Promise<string>, turnstile?: string, ticket?: string, minPollMs?: number, maxPollMs?: number, maxPolls?: number, maxRejoins?: number, waitForOpening?: boolean }} [o]
     * @param {object} [options]
     */
    async admit(
      saleId,
      token,
      { solve, turnstile, ticket, minPollMs = 250, maxPollMs = 5000, maxPolls = 1000, maxRejoins = 2, waitForOpening = true } = {},
      options = {},
    ) {
      let r = await api.join(saleId, token, { solve, turnstile, ticket }, options);
      for (let polls = 0, rejoins = 0; ; polls++) {
        if (r.status !== 200 && r.status !== 201) throw new ApiError(polls ? "poll" : "queue", r);
        if (r.body.state === "admitted") return r;
        // No unit can come back: waiting on is pointless (a restock would admit the place again).
        if (r.body.state === "sold_out") throw new ApiError("sold out while in line", r);
        if (r.body.state === "expired") {
          if (rejoins++ >= maxRejoins) throw new ApiError("admitted, but the time to claim ran out", r);
          r = await api.join(saleId, token, { solve, turnstile }, options);
          continue;
        }
        if (!waitForOpening && r.body.position === null) throw new ApiError("queue (a pre-queue place, drawn at the opening)", r);
        if (polls >= maxPolls) throw new ApiError(`not admitted after ${polls} polls`, r);
        await sleep(Math.min(maxPollMs, Math.max(minPollMs, (r.body.refresh_s ?? 1) * 1000)));
        r = await api.poll(saleId, token, r.body.ticket, options);
      }
    },

    /**
     * The operator's routes, with the admin bearer token (none behind Cloudflare Access, where
     * the browser's Access session or a service token's headers stand in for it).
     */
    admin(adminToken) {
      const a = (method, path, json, options = {}) => request(method, `/admin${path}`, { ...options, token: adminToken, json });
      return {
        /** GET /admin/sales: the sales, newest first, with status and stock. */
        list: (options) => a("GET", "/sales", undefined, options),
        /** POST /admin/sales (idempotent by id: the same config again is a 200, another a 409). */
        createSale: (config, options) => a("POST", "/sales", config, options),
        /** GET /admin/sales/:id: stock, holds, queue, outbox, D1. */
        stats: (saleId, options) => a("GET", `/sales/${saleId}`, undefined, options),
        /** GET /admin/sales/:id/series: the per-second history (after `since`, epoch seconds). */
        series: (saleId, since, options) =>
          a("GET", `/sales/${saleId}/series${since === undefined ? "" : `?since=${since}`}`, undefined, options),
        /** PATCH /admin/sales/:id: live settings. */
        update: (saleId, patch, options) => a("PATCH", `/sales/${saleId}`, patch, options),
        pause: (saleId, options) => a("POST", `/sales/${saleId}/pause`, undefined, options),
        resume: (saleId, options) => a("POST", `/sales/${saleId}/resume`, undefined, options),
        close: (saleId, options) => a("POST", `/sales/${saleId}/close`, undefined, options),
        restock: (saleId, qty, options) => a("POST", `/sales/${saleId}/restock`, { qty }, options),
        reconcile: (saleId, options) => a("POST", `/sales/${saleId}/reconcile`, undefined, options),
        /** POST /admin/sales/:id/events/resend: the shop's dead webhook events back in line. */
        resendEvents: (saleId, options) => a("POST", `/sales/${saleId}/events/resend`, undefined, options),
        /** GET /admin/gateway/ledger: the simulated gateway's charges. */
        ledger: (options) => a("GET", "/gateway/ledger", undefined, options),
        /** GET /admin/payments: the payment pacer's rates and line (Stripe's rate limits). */
        payments: (options) => a("GET", "/payments", undefined, options),
        /** POST /admin/faults (needs ALLOW_FAULTS): gateway rates, D1 outages, restarts. */
        faults: (body, options) => a("POST", "/faults", body, options),
      };
    },
  };
  return api;
}
