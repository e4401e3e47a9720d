import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import type { HoldRow } from "../../durable-objects/inventory/holds";
import { call, stub } from "./worker";

/**
 * The fake Stripe (scripts/lib/stripe-fake.mjs) as the Stripe tests reach it: through the
 * runtime's outbound fetch, which vitest.config.ts answers for the project's STRIPE_API_BASE
 * (http://stripe.test, unlimited; http://stripe-paced.test, the sandbox's limits). Its webhook
 * events are signed with the Worker's STRIPE_WEBHOOK_SECRET; a test delivers them when and as
 * often as it likes (twice, out of order, after the hold ended, with a bad signature).
 */
export const FAKE = (env as unknown as { STRIPE_API_BASE: string }).STRIPE_API_BASE;

export type FakeEvent = { id: string; type: string; hold: string; payload: string; header: string };
export type FakeCharge = {
  key: string;
  reference: string;
  status: string;
  charge_id: string;
  amount: number;
  calls: number;
  refund_id: string | null;
};

export async function events(hold: string, type?: string): Promise<FakeEvent[]> {
  const all = (await (await fetch(`${FAKE}/_fake/events?hold=${encodeURIComponent(hold)}`)).json()) as FakeEvent[];
  return type ? all.filter((e) => e.type === type) : all;
}

/** The fake's intents for these holds, in the ledger's shape (one per intent). */
export async function intentsFor(...holds: string[]): Promise<FakeCharge[]> {
  const { charges } = (await (await fetch(`${FAKE}/_fake/ledger`)).json()) as { charges: FakeCharge[] };
  return charges.filter((c) => holds.includes(c.reference));
}

/** What stripe.js does once the shopper has passed (or failed) 3-D Secure. */
export async function authenticate(intent: string, result: "succeeded" | "failed" = "succeeded") {
  const res = await fetch(`${FAKE}/_fake/intents/${intent}/authenticate`, { method: "POST", body: JSON.stringify({ result }) });
  if (!res.ok) throw new Error(`authenticate ${intent}: ${res.status} ${await res.text()}`);
}

/** A request to the fake's Stripe API as someone else than the Worker would make it (the dashboard, a second confirm). */
export const stripeApi = (path: string, form: Record<string, string>) =>
  fetch(`${FAKE}${path}`, {
    method: "POST",
    body: new URLSearchParams(form),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });

/** Delivers an event to the Worker as Stripe would (or with another signature header). */
export const deliver = (ev: Pick<FakeEvent, "payload" | "header">, header = ev.header) =>
  call("POST", "/api/webhooks/stripe", { raw: ev.payload, headers: { "content-type": "application/json", "stripe-signature": header } });

/** A Stripe-Signature header made with the stripe package (for events the fake did not raise). */
export const sign = (payload: string, secret: string, timestamp?: number) =>
  Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp, cryptoProvider: Stripe.createSubtleCryptoProvider() });

export const holdRow = (sale: string, id: string) =>
  runInDurableObject(stub(sale), (_i, state) => state.storage.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0]!);

/** Every row of the object's tables a webhook could write (for "nothing was written"). */
export const objectState = (sale: string) =>
  runInDurableObject(stub(sale), (_i, state) =>
    Object.fromEntries(
      ["sale", "holds", "refunds", "outbox", "provider_events"].map((t) => [t, state.storage.sql.exec(`SELECT * FROM ${t}`).toArray()]),
    ),
  );
