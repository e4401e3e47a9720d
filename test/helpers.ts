import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { solve } from "../domain/pow.js";
import { forgetSale } from "../src/edge/sale-info";
import worker from "../src/index";
import { inventory, gatewaySim } from "../domain/objects";
import type { HoldView } from "../domain/schemas/hold";

/**
 * A request to the Worker, as a shopper's client would send it. It calls the Worker's handler in
 * the test isolate (real bindings, real objects and D1) rather than through `exports.default`:
 * that loopback serialises concurrent requests badly (200 at once take ~10 s, see
 * test/README.md), which would turn every burst test into a test of the harness.
 */
export async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string; env?: Partial<Env> } = {},
) {
  // A browser from its own address unless a test says otherwise (rate limits key on the IP).
  const headers: Record<string, string> = { "user-agent": BROWSER_UA, "cf-connecting-ip": randomIp(), ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://flashsale.test${path}`, { method, headers, body }), opts.env ? { ...env, ...opts.env } : env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsed: text };
  }
  return { status: res.status, body: json, headers: res.headers };
}

export const BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
export const randomIp = () => `10.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

export const admin = (method: string, path: string, body?: unknown) =>
  call(method, `/admin${path}`, { token: env.ADMIN_TOKEN, body });

let n = 0;
/** A unique sale id per call, so tests in one file do not share objects. */
export const saleId = (prefix = "s") => `${prefix}-${Date.now().toString(36)}-${(n++).toString(36)}`;

export function saleConfig(overrides: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    id: saleId(),
    product: { id: "console-x", name: "Console X", price: 49_900, currency: "EUR" },
    stock_total: 10,
    starts_at: new Date(now - 1000).toISOString(),
    ends_at: new Date(now + 3600_000).toISOString(),
    hold_ttl_s: 300,
    pow_difficulty: 0,
    // Tests admit everyone at once unless they are about admission.
    admission_rate: 100_000,
    max_active: 10_000_000,
    ...overrides,
  };
}

/** Creates an open sale and returns its id. */
export async function createSale(overrides: Record<string, unknown> = {}): Promise<string> {
  const cfg = saleConfig(overrides);
  const res = await admin("POST", "/sales", cfg);
  if (res.status !== 201) throw new Error(`create sale: ${res.status} ${JSON.stringify(res.body)}`);
  return cfg.id as string;
}

export async function session(): Promise<{ token: string; user: string }> {
  const res = await call("POST", "/api/session");
  return { token: res.body.token, user: res.body.user_id };
}

let k = 0;
export const idemKey = () => `key-${Date.now()}-${k++}`;

/** Challenge → solve → queue: the first answer (a ticket, and a pass when admitted at once). */
export async function enqueue(sale: string, token: string, opts: { env?: Partial<Env>; turnstile?: string } = {}) {
  const ch = await call("POST", `/api/sales/${sale}/challenge`, { token, env: opts.env });
  if (ch.status !== 200) throw new Error(`challenge: ${ch.status} ${JSON.stringify(ch.body)}`);
  const solution = await solve(ch.body.nonce, ch.body.bits);
  return call("POST", `/api/sales/${sale}/queue`, {
    token,
    env: opts.env,
    body: { challenge: ch.body.challenge, solution, ...(opts.turnstile ? { turnstile: opts.turnstile } : {}) },
  });
}

const passes = new Map<string, Promise<string>>();
/** A waiting-room pass for this shopper and sale, through the real flow (cached per pair). */
export function passFor(sale: string, token: string): Promise<string> {
  const key = `${sale} ${token}`;
  let p = passes.get(key);
  if (!p) {
    p = (async () => {
      let res = await enqueue(sale, token);
      for (let i = 0; res.body.state !== "admitted"; i++) {
        // A pre-queue place (position null) is only drawn at the start: not worth waiting for here.
        if (res.status >= 300 || i > 100 || res.body.position === null) throw new Error(`queue: ${res.status} ${JSON.stringify(res.body)}`);
        await sleep(100);
        res = await call("GET", `/api/sales/${sale}/queue`, { token, headers: { "x-ticket": res.body.ticket } });
      }
      return res.body.pass as string;
    })();
    p.catch(() => passes.delete(key));
    passes.set(key, p);
  }
  return p;
}

/**
 * A claim as an admitted shopper sends it (the pass is fetched first, through the queue). When
 * no pass can be had (the sale has not started, is closed or unknown) the claim goes without
 * one, so the test sees what the edge answers such a claim.
 */
export async function claim(sale: string, token: string, key = idemKey(), body: unknown = {}) {
  const pass = await passFor(sale, token).catch(() => undefined);
  return call("POST", `/api/sales/${sale}/claim`, { token, body, headers: { "idempotency-key": key, ...(pass ? { "x-pass": pass } : {}) } });
}

export async function heldBy(sale: string, token: string): Promise<HoldView> {
  const res = await claim(sale, token);
  if (res.status !== 201) throw new Error(`claim: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.hold;
}

export const pay = (holdId: string, token: string, method = "tok_ok") =>
  call("POST", `/api/holds/${holdId}/pay`, { token, body: { payment_method: method } });

export const stub = (sale: string) => inventory(env, sale);
export const stats = (sale: string) => stub(sale).stats();
export const ledger = () => gatewaySim(env).ledger();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the product object's alarm now (if one is set), as the runtime would when it is due.
 * Stock an alarm returns reaches the edge's cached view within EDGE_CACHE_MS; a test that runs
 * alarms by hand skips that wait (test/edge.test.ts checks the wait itself).
 */
export async function runAlarm(sale: string) {
  const ran = await runDurableObjectAlarm(stub(sale));
  forgetSale(sale);
  return ran;
}

/** Runs alarms until `done()` holds (or fails after `ms`): time-based steps need real time. */
export async function until(sale: string, done: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await runAlarm(sale);
    await sleep(25);
  }
}

export async function d1Orders(sale: string) {
  const { results } = await env.DB.prepare("SELECT * FROM orders WHERE sale_id = ? ORDER BY id").bind(sale).all<{ id: string; hold_id: string; charge_id: string; qty: number; amount: number }>();
  return results;
}

export async function d1Refunds(sale: string) {
  const { results } = await env.DB.prepare("SELECT * FROM refunds WHERE sale_id = ?").bind(sale).all<{ id: string; hold_id: string; charge_id: string }>();
  return results;
}

/** Invariant 1, from the object's own ledger: counters add up and match the holds. */
export async function expectStockInvariant(sale: string, expect: (v: unknown) => any) {
  const s = await stats(sale);
  const st = s.stock!;
  expect(st.available + st.held + st.sold + st.withdrawn).toBe(st.stock_total);
  expect(st.sold + st.held).toBeLessThanOrEqual(st.stock_total);
  expect(st.held).toBe(s.units.held + s.units.pending);
  expect(st.sold).toBe(s.units.confirmed);
  return s;
}
