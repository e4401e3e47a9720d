import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { room } from "../domain/objects";
import { forgetEverything } from "../src/lib/isolate-state";
import { createSale, expectStockInvariant } from "./support/sales";
import { claim, enqueue, heldBy, pay, session } from "./support/shoppers";
import { admin, call, d1Orders, stats, stub, until } from "./support/worker";

/**
 * What an operator and a shopper can see of a sale, without the per-instance figures (the
 * objects' served counters, and the room's last reading of the stock, which a new instance takes
 * again a tick later).
 */
async function snapshot(sale: string, shoppers: { token: string; hold?: string; ticket?: string }[]) {
  const { served: _served, alarm_at, ...engine } = await stats(sale);
  const { served: _roomServed, claimable: _reading, ...line } = await room(env, sale).stats();
  const views = await Promise.all(
    shoppers.map(async (s) => ({
      hold: s.hold ? (await call("GET", `/api/holds/${s.hold}`, { token: s.token })).body : null,
      place: s.ticket
        ? (await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": s.ticket } })).body.position
        : null,
    })),
  );
  const info = (await call("GET", `/api/sales/${sale}`)).body.sale;
  return { engine, line: { ...line, active: undefined }, views, info, alarmSet: alarm_at !== null };
}

/**
 * In-memory state is disposable: the objects keep a cached config, the alarm time, a queue of
 * claims and per-instance counters in memory, and every isolate keeps caches (src/lib/isolate-state.ts).
 * Throwing all of it away mid-sale changes no answer, and the sale goes on.
 */
describe("in-memory state is disposable", () => {
  it("answers the same after every object is evicted and the edge forgets its caches, and the sale goes on", async () => {
    const sale = await createSale({
      stock_total: 4,
      admission_rate: 1,
      max_active: 2,
      starts_at: new Date(Date.now() - 60_000).toISOString(),
    });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    // a: paid; b: holding; c: in line, not admitted yet (rate 1/s, two places taken).
    const ha = await heldBy(sale, a.token);
    expect((await pay(ha.id, a.token)).status).toBe(200);
    const hb = await heldBy(sale, b.token);
    const queued = await enqueue(sale, c.token);
    expect(queued.body.state).toBe("waiting");
    const shoppers = [
      { token: a.token, hold: ha.id },
      { token: b.token, hold: hb.id },
      { token: c.token, ticket: queued.body.ticket as string },
    ];
    await until(sale, async () => (await d1Orders(sale)).length === 1);

    forgetEverything(); // the sale info cached before b's claim is a second old: read the truth
    const before = await snapshot(sale, shoppers);
    const sinceBefore = (await stats(sale)).served.since;
    forgetEverything();
    await abortAllDurableObjects();
    const after = await snapshot(sale, shoppers);

    // A new instance answered (its constructor set a new `since`), with the same ledger and line.
    expect((await stats(sale)).served.since).not.toBe(sinceBefore);
    expect(after).toEqual(before);
    expect(after.alarmSet).toBe(true); // b's expiry is still scheduled
    await runInDurableObject(stub(sale), async (_i, state) => expect(await state.storage.getAlarm()).not.toBeNull());

    // The sale goes on: b pays; the operator makes room in the line and c, still in line, is
    // admitted at the place it had and claims; the per-user limit still holds.
    expect((await pay(hb.id, b.token)).status).toBe(200);
    expect((await admin("PATCH", `/sales/${sale}`, { max_active: 10 })).status).toBe(200);
    expect((await claim(sale, c.token)).status).toBe(201);
    expect((await claim(sale, a.token)).body.error).toBe("limit_reached");
    await until(sale, async () => (await d1Orders(sale)).length === 2);
    const st = await expectStockInvariant(sale, expect);
    expect(st.stock).toMatchObject({ sold: 2, held: 1, available: 1 });
  });
});
