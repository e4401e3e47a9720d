import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createClient, type Transport } from "../../domain/client.js";
import { gatewaySim, inventory } from "../../domain/objects";
import { forgetSale } from "../../src/edge/sale-info";
import worker from "../../src/index";
import { advanceClockTo } from "./clock";

export const BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
export const randomIp = () => `10.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

/** What a test may add to one request: the Worker sees `env` merged over the real bindings. */
type InIsolate = { env: Partial<Env> };

/**
 * The client's transport in tests: the Worker's handler called in the test isolate (real
 * bindings, real objects and D1) rather than through `exports.default`, whose loopback
 * serialises concurrent requests badly (200 at once take ~10 s), which would turn every burst
 * test into a test of the harness. Each request comes from its own address unless the test says
 * otherwise (rate limits key on the IP).
 */
const inIsolate: Transport<InIsolate> = async (method, path, { headers, body, env: overrides }) => {
  headers["cf-connecting-ip"] ??= randomIp();
  return inWorker(new Request(`http://flashsale.test${path}`, { method, headers, body }), overrides);
};

/** One request through the Worker's handler in this isolate, its waitUntil work done before it returns. */
export async function inWorker(request: Request, overrides?: Partial<Env>) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, overrides ? { ...env, ...overrides } : env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { status: res.status, headers: res.headers, text };
}

/** The shopper client (domain/client.js), as a browser would use it. */
export const api = createClient({ transport: inIsolate, headers: { "user-agent": BROWSER_UA } });
/** The operator's routes, with the test admin token. */
export const ops = api.admin(env.ADMIN_TOKEN);

/** Any request, as a client would send it: `body` as JSON, `raw` as it is, `env` for this request only. */
export function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string; env?: Partial<Env> } = {},
) {
  return api.request(method, path, { token: opts.token, headers: opts.headers, json: opts.body, body: opts.raw, env: opts.env });
}

export const admin = (method: string, path: string, body?: unknown) => call(method, `/admin${path}`, { token: env.ADMIN_TOKEN, body });

export const stub = (sale: string) => inventory(env, sale);
export const stats = (sale: string) => stub(sale).stats();
export const ledger = () => gatewaySim(env).ledger();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the product object's alarm now (if one is set), as the runtime would when it is due.
 * Stock an alarm returns reaches the edge's cached view within EDGE_CACHE_MS; a test that runs
 * alarms by hand skips that wait (test/edge.sold-out.test.ts checks the wait itself).
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

/**
 * Runs alarms until `done()` holds (or fails after `ms` of real time), moving the clock to each
 * alarm's time first: a timed step (an expiry, a re-ask, a flush) happens now, as the runtime
 * would run it once due, instead of being waited for.
 */
export async function untilDue(sale: string, done: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    const at = (await stats(sale)).alarm_at;
    if (at) advanceClockTo(Date.parse(at));
    await runAlarm(sale);
  }
}

export async function d1Orders(sale: string) {
  const { results } = await env.DB.prepare("SELECT * FROM orders WHERE sale_id = ? ORDER BY id")
    .bind(sale)
    .all<{ id: string; hold_id: string; charge_id: string; qty: number; amount: number }>();
  return results;
}

export async function d1Refunds(sale: string) {
  const { results } = await env.DB.prepare("SELECT * FROM refunds WHERE sale_id = ?")
    .bind(sale)
    .all<{ id: string; hold_id: string; charge_id: string }>();
  return results;
}
