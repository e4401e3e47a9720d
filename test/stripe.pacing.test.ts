import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { HoldView } from "../domain/schemas/hold";
import { pacerName, type PaymentPacer } from "../durable-objects/payment-pacer";
import { createSale, expectStockInvariant } from "./support/sales";
import { heldBy, pay, session } from "./support/shoppers";
import { FAKE, holdRow, intentsFor } from "./support/stripe";
import { admin, call, d1Orders, d1Refunds, sleep, stats, stub } from "./support/worker";

/**
 * Payment pacing (durable-objects/payment-pacer.ts, durable-objects/inventory/pay-queue.ts)
 * against the fake Stripe, which enforces Stripe's sandbox limits (25 requests/s per endpoint
 * and for the account). The test key is a sandbox's: after 20% headroom the pacer grants
 * payments 25 × 0.8 × 0.75 = 15 account requests/s, 3 per payment, so one payment every 200 ms
 * (the other quarter is the lane for webhook lookups, cancels and refunds); a turn more than a
 * second away is queued (202, `hold.queue`).
 */
const pacer = async () => env.PACER.get(env.PACER.idFromName(await pacerName(env)));
const GAP_MS = 200;

const getHold = async (id: string, token: string): Promise<HoldView> => (await call("GET", `/api/holds/${id}`, { token })).body.hold;

/** `n` shoppers, each with a hold in one of `sales` (round robin). */
async function holders(sales: string[], n: number) {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const s = await session();
      const hold = await heldBy(sales[i % sales.length]!, s.token);
      return { token: s.token, hold };
    }),
  );
}

/** Waits (on the runtime's own alarms) until every hold has ended; returns them as they ended. */
async function ended(list: { token: string; hold: HoldView }[], ms = 20_000): Promise<HoldView[]> {
  const end = Date.now() + ms;
  for (;;) {
    const now = await Promise.all(list.map((x) => getHold(x.hold.id, x.token)));
    if (now.every((h) => h.status !== "held" && h.status !== "pending")) return now;
    if (Date.now() > end)
      throw new Error(
        `not ended: ${now
          .filter((h) => h.status === "held" || h.status === "pending")
          .map((h) => `${h.id} ${h.status}`)
          .join(", ")}`,
      );
    await sleep(100);
  }
}

/** No double charge: one intent per hold, confirmed at most `confirms` times, each success an order and none refunded. */
async function expectPaidOnce(sales: string[], holds: string[], confirms = 1) {
  const intents = await intentsFor(...holds);
  expect(intents.map((i) => i.reference).sort()).toEqual([...holds].sort());
  for (const i of intents) {
    expect(i.status).toBe("succeeded");
    expect(i.calls).toBeLessThanOrEqual(confirms);
  }
  const orders = (await Promise.all(sales.map(d1Orders))).flat();
  const refunds = (await Promise.all(sales.map(d1Refunds))).flat();
  expect(orders.map((o) => o.hold_id).sort()).toEqual([...holds].sort());
  expect(refunds).toHaveLength(0);
}

/**
 * Every queued answer (202 with `hold.queue`; a 202 without is an outcome not known yet, e.g. a
 * charge slower than the tests' 250 ms PAY_TIMEOUT_MS on a busy machine): pending, a place in
 * line and a turn, the turns one gap apart at the least, in order of place.
 */
function expectQueued(answers: { status: number; body: any }[]) {
  const queued = answers.filter((a) => a.status === 202 && a.body.hold.queue).map((a) => a.body.hold as HoldView);
  for (const h of queued) {
    expect(h.status).toBe("pending");
    expect(h.queue).toMatchObject({ position: expect.any(Number), eta: expect.any(String) });
  }
  const turns = queued.map((h) => ({ at: Date.parse(h.queue!.eta), position: h.queue!.position })).sort((a, b) => a.at - b.at);
  for (let i = 1; i < turns.length; i++) {
    expect(turns[i]!.at - turns[i - 1]!.at).toBeGreaterThanOrEqual(GAP_MS - 1);
    expect(turns[i]!.position).toBeGreaterThanOrEqual(turns[i - 1]!.position);
  }
  return queued;
}

// This project's fake Stripe is its own (http://stripe-paced.test), with the sandbox's limits: the
// gateway tests' fake, unlimited, answers at the same time.
const FAKE_LIMITS = `${FAKE}/_fake/limits`;
const limits = (l: { account: number; endpoint: number }) => fetch(FAKE_LIMITS, { method: "POST", body: JSON.stringify(l) });
beforeAll(() => limits({ account: 25, endpoint: 25 }));

describe("payment pacing", () => {
  it("one pacer for the account: two sales, one of them on two shards, share one line; every hold is paid once", async () => {
    const sales = [await createSale({ stock_total: 8 }), await createSale({ stock_total: 8, shards: 2 })];
    const p = await pacer();
    const before = (await p.stats()).granted.payment;
    const list = await holders(sales, 14);
    // Three product objects as a rule (the sharded sale's seven shoppers are homed on both shards,
    // but for 1 draw in 64 that puts them all on one): at least the two sales' objects.
    expect(new Set(list.map((x) => x.hold.id.split("_h")[0])).size).toBeGreaterThanOrEqual(2);

    const answers = await Promise.all(list.map((x) => pay(x.hold.id, x.token, "pm_ok")));
    for (const a of answers) expect([200, 202]).toContain(a.status);
    // 14 payments at one every 200 ms: the line is longer than the one-second wait a request makes.
    expect(expectQueued(answers).length).toBeGreaterThanOrEqual(5);
    expect((await p.stats()).granted.payment - before).toBe(14); // every object asked the one pacer
    // The operator sees the same pacer: its rates (a sandbox's, less 20% headroom) and its line.
    const seen = await admin("GET", "/payments");
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({
      paced: true,
      account: await pacerName(env),
      headroom: 0.2,
      payments_per_s: 5,
      rates: { account: 15, calls: 5, create: 20, confirm: 20 },
    });
    expect(seen.body.granted.payment).toBeGreaterThanOrEqual(before + 14);

    const final = await ended(list);
    expect(final.every((h) => h.status === "confirmed")).toBe(true);
    await expectPaidOnce(
      sales,
      list.map((x) => x.hold.id),
    );
  });

  it("extends the window of a hold whose payment is queued: none expires waiting for its turn", async () => {
    // A two-second window, and a line of 16 payments (3.2 s): the last turns come after the window.
    const sale = await createSale({ stock_total: 16, hold_ttl_s: 2 });
    const list = await holders([sale], 16);
    const answers = await Promise.all(list.map((x) => pay(x.hold.id, x.token, "pm_ok")));
    const queued = expectQueued(answers);
    expect(queued.length).toBeGreaterThan(0);
    const late = queued.filter((h) => Date.parse(h.queue!.eta) > Date.parse(list.find((x) => x.hold.id === h.id)!.hold.expires_at));
    expect(late.length).toBeGreaterThan(0); // some turns are after the hold's first window
    for (const h of queued) {
      const first = list.find((x) => x.hold.id === h.id)!.hold;
      expect(Date.parse(h.expires_at)).toBeGreaterThan(Date.parse(first.expires_at));
      expect(Date.parse(h.expires_at)).toBeGreaterThan(Date.parse(h.queue!.eta));
      // Stored with the hold (the product object owns it), not only in the answer.
      const row = await holdRow(sale, h.id);
      expect(row.expires_at).toBe(Date.parse(h.expires_at));
    }

    const final = await ended(list);
    expect(final.filter((h) => h.status !== "confirmed").map((h) => `${h.status} ${h.reason}`)).toEqual([]);
    const s = await expectStockInvariant(sale, expect);
    expect(s.holds.expired ?? 0).toBe(0);
    expect(s.payments.queued).toBe(0);
    await expectPaidOnce(
      [sale],
      list.map((x) => x.hold.id),
    );
  });

  it("a 429 backs off with jitter and tries the same intent again: counted, paid once", async () => {
    const sale = await createSale({ stock_total: 6 });
    const list = await holders([sale], 6);
    // pm_ratelimit: the fake answers the first confirm of each intent 429 (nothing happens).
    const answers = await Promise.all(list.map((x) => pay(x.hold.id, x.token, "pm_ratelimit")));
    for (const a of answers) expect(a.status).toBe(202); // the 429 is an unknown outcome: asked again later
    const final = await ended(list);
    expect(final.every((h) => h.status === "confirmed")).toBe(true);
    const s = await stats(sale);
    // One 429 per intent, each counted once (one whose answer came after the tests' 250 ms client
    // timeout is an unknown outcome like any other, not known as a 429).
    expect(s.payments.rate_limited).toBeGreaterThanOrEqual(1);
    expect(s.payments.rate_limited).toBeLessThanOrEqual(6);
    await expectPaidOnce(
      [sale],
      list.map((x) => x.hold.id),
      2,
    ); // the 429'd confirm, then the one that charged
  });

  it("restarts of the product object and of the pacer with payments queued lose none and pay none twice", async () => {
    const sale = await createSale({ stock_total: 12 });
    const list = await holders([sale], 12);
    const answers = await Promise.all(list.map((x) => pay(x.hold.id, x.token, "pm_ok")));
    const queued = expectQueued(answers);
    expect(queued.length).toBeGreaterThanOrEqual(3);
    const lastTurn = Math.max(...queued.map((h) => Date.parse(h.queue!.eta)));

    const since = (await stats(sale)).served.since;
    await runInDurableObject(stub(sale), (_i, state) => state.abort("test restart")).catch(() => {});
    await runInDurableObject(await pacer(), (_i: PaymentPacer, state) => state.abort("test restart")).catch(() => {});
    expect((await stats(sale)).served.since).not.toBe(since);
    // The pacer's line survived its restart: a new payment's turn comes after every queued one.
    const p = await pacer();
    expect((await p.stats()).line_ms).toBeGreaterThan(0);
    expect((await p.grant("retry")).at).toBeGreaterThanOrEqual(lastTurn);
    // The queued payments are still queued, with their turns, after the product object's restart.
    const mid = await expectStockInvariant(sale, expect);
    expect(mid.holds.pending! + mid.holds.confirmed!).toBe(12);

    const final = await ended(list);
    expect(final.every((h) => h.status === "confirmed")).toBe(true);
    await expectPaidOnce(
      [sale],
      list.map((x) => x.hold.id),
    );
  });
});
