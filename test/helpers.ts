import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../src/index";
import { inventory, gatewaySim } from "../src/lib/objects";
import type { HoldView } from "../src/schemas/hold";

/**
 * A request to the Worker, as a shopper's client would send it. It calls the Worker's handler in
 * the test isolate (real bindings, real objects and D1) rather than through `exports.default`:
 * that loopback serialises concurrent requests badly (200 at once take ~10 s, see
 * test/README.md), which would turn every burst test into a test of the harness.
 */
export async function call(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://flashsale.test${path}`, { method, headers, body }), env, ctx);
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

export function claim(sale: string, token: string, key = idemKey(), body: unknown = {}) {
  return call("POST", `/api/sales/${sale}/claim`, { token, body, headers: { "idempotency-key": key } });
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

/** Runs the product object's alarm now (if one is set), as the runtime would when it is due. */
export const runAlarm = (sale: string) => runDurableObjectAlarm(stub(sale));

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
