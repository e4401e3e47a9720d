import { env } from "cloudflare:workers";
import { orderIdOf } from "../../domain/ids";
import type { ShopEvent } from "../../domain/schemas/events";
import { heldBy, pay, session } from "./shoppers";
import { sleep, stats, until } from "./worker";

/** What the fake shop (scripts/lib/shop-hooks-fake.mjs, at shop-hooks.test) got for a sale. */
export type Received = {
  events: ShopEvent[];
  deliveries: { id: string; count: number; bodies: string[]; signature: string }[];
  arrivals: string[];
  attempts: number;
};

export async function received(sale: string): Promise<Received> {
  const res = await fetch(`http://shop-hooks.test/received?sale=${sale}`);
  return (await res.json()) as Received;
}

/** The fake shop's answers to the next deliveries of this sale's events (then `ok`). */
export async function script(sale: string, answers: string[]): Promise<void> {
  await fetch("http://shop-hooks.test/control", { method: "POST", body: JSON.stringify({ sale, answers }) });
}

/** `n` new shoppers each confirm a hold (tok_ok); resolves when the object has them all confirmed. */
export async function confirmOrders(sale: string, n: number, method = () => "tok_ok"): Promise<string[]> {
  const before = (await stats(sale)).holds.confirmed ?? 0;
  const holds = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = await session();
      const h = await heldBy(sale, s.token);
      await pay(h.id, s.token, method());
      return h.id;
    }),
  );
  await until(sale, async () => (await stats(sale)).holds.confirmed === before + n);
  return holds.map(orderIdOf);
}

/** Waits (on the fact, with the object's own alarms) until `done` holds. */
export async function eventually(done: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(25);
  }
}

/** Every webhook event of the sale delivered (none pending, none dead). */
export async function webhooksDone(sale: string): Promise<boolean> {
  const w = (await stats(sale)).events.webhook;
  return !!w && w.pending === 0 && w.dead === 0;
}

export async function d1OrderIds(sale: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT id FROM orders WHERE sale_id = ? ORDER BY id").bind(sale).all<{ id: string }>();
  return results.map((r) => r.id);
}
