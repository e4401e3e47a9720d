import type { HoldView } from "../../domain/schemas/hold";
import { assertion, newAccount } from "./identity";
import { api } from "./worker";

/**
 * A shopper's session: for a fresh shop account (sales need one unless created with
 * `identity: "anonymous"`), for the given `account`, or anonymous with `account: null`
 * (from `ip`, when the test cares which network it was made from).
 */
export async function session(
  opts: { account?: string | null; ip?: string } = {},
): Promise<{ token: string; user: string; account: string | null }> {
  const account = opts.account === null ? null : (opts.account ?? newAccount());
  const headers = opts.ip ? { "cf-connecting-ip": opts.ip } : undefined;
  const res = await api.session({ ...(account ? { identity: await assertion(account) } : {}), headers });
  if (res.status !== 201) throw new Error(`session: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token, user: res.body.user_id, account };
}

/** An anonymous session (for sales created with `identity: "anonymous"`). */
export const anonymousSession = (ip?: string) => session({ account: null, ip });

let k = 0;
export const idemKey = () => `key-${Date.now()}-${k++}`;

/** Challenge → solve → queue: the first answer (a ticket, and a pass when admitted at once). */
export function enqueue(sale: string, token: string, opts: { env?: Partial<Env>; turnstile?: string } = {}) {
  return api.join(sale, token, { turnstile: opts.turnstile }, { env: opts.env });
}

const passes = new Map<string, Promise<string>>();
/** A waiting-room pass for this shopper and sale, through the real flow (cached per pair). */
export function passFor(sale: string, token: string): Promise<string> {
  const key = `${sale} ${token}`;
  let p = passes.get(key);
  if (!p) {
    // A pre-queue place (position null) is only drawn at the start: not worth waiting for here.
    p = api.admit(sale, token, { minPollMs: 100, maxPollMs: 100, maxPolls: 100, waitForOpening: false }).then((r) => r.body.pass as string);
    p.catch(() => passes.delete(key));
    passes.set(key, p);
  }
  return p;
}

/**
 * Passes for these shoppers before any of them claims: each is an admitted shopper, and the later
 * ones may lose the race for a unit (sales in tests admit two per unit: support/sales.ts). A turn
 * carries a unit, so once the units are claimed nobody else is admitted: tests whose shoppers
 * race for a unit get their passes first.
 */
export const admitted = (sale: string, ...who: { token: string }[]) => Promise.all(who.map((s) => passFor(sale, s.token)));

/**
 * A claim as an admitted shopper sends it (the pass is fetched first, through the queue). When
 * no pass can be had (the sale has not started, is closed or unknown) the claim goes without
 * one, so the test sees what the edge answers such a claim.
 */
export async function claim(sale: string, token: string, key = idemKey(), body: { qty?: number } = {}) {
  const pass = await passFor(sale, token).catch(() => undefined);
  return api.claim(sale, token, { pass, key, qty: body.qty });
}

export async function heldBy(sale: string, token: string): Promise<HoldView> {
  const res = await claim(sale, token);
  if (res.status !== 201) throw new Error(`claim: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.hold;
}

export const pay = (holdId: string, token: string, method = "tok_ok") => api.pay(holdId, token, method);
