import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createSale, expectStockInvariant } from "./support/sales";
import { claim, heldBy, idemKey, passFor, pay, session } from "./support/shoppers";
import { call, ledger, sleep, stats, stub, until } from "./support/worker";

/**
 * Restarts the sale's object: in-memory state is gone, the next call builds a new instance
 * (checked: `served.since` is set by the constructor).
 */
async function restart(sale: string, before?: string) {
  before ??= (await stats(sale)).served.since;
  await runInDurableObject(stub(sale), (_i, state) => state.abort("test restart")).catch(() => {});
  expect((await stats(sale)).served.since).not.toBe(before);
}

const getHold = (id: string, token: string) => call("GET", `/api/holds/${id}`, { token });

async function d1OrdersFor(holdId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM orders WHERE hold_id = ?").bind(holdId).all<{ id: string; charge_id: string }>();
  return results;
}

/** The gateway's charges for one hold (its reference): "no double charge" means one, not refunded. */
const chargesFor = async (holdId: string) => (await ledger()).filter((c) => c.reference === holdId);

/** An answer lost with a restarted object: a 503 that says to retry, never a 500. */
function expectRetryable(a: { status: number; body: any; headers: Headers }) {
  expect(a.body.error).toBe("unavailable");
  expect(Number(a.headers.get("retry-after"))).toBeGreaterThan(0);
}

/** Waits without running the alarm by hand: only the runtime's own alarm may make this true. */
async function eventually(done: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(50);
  }
}

/**
 * Invariant 6: durable before acknowledged. A product object restarted at any step (between
 * claim and pay, with a payment outcome still unknown, right after a group commit, with an
 * expiry alarm pending) keeps everything it answered "yes" to, and finishes what it started
 * exactly once.
 */
/** The hold ended confirmed once: one succeeded charge, no refund, one D1 order with that charge. */
async function expectSettledOnce(sale: string, holdId: string) {
  await until(sale, async () => (await stats(sale)).holds.confirmed === 1);
  await until(sale, async () => (await d1OrdersFor(holdId)).length > 0);
  const st = await expectStockInvariant(sale, expect);
  expect(st.stock).toMatchObject({ sold: 1, held: 0 });
  expect(st.refunds).toEqual({ pending: 0, refunded: 0 });
  const charges = await chargesFor(holdId);
  expect(charges).toHaveLength(1);
  expect(charges[0]).toMatchObject({ status: "succeeded", refund_id: null });
  const rows = await d1OrdersFor(holdId);
  expect(rows).toHaveLength(1);
  expect(rows[0]!.charge_id).toBe(charges[0]!.charge_id);
}

describe("object restarts", () => {
  it("keeps a hold and then its order across restarts between steps; D1 gets the order once", async () => {
    const sale = await createSale({ stock_total: 5 });
    const s = await session();
    const hold = await heldBy(sale, s.token);

    await restart(sale);
    const after = await getHold(hold.id, s.token);
    expect(after.status).toBe(200);
    expect(after.body.hold).toMatchObject({ id: hold.id, status: "held", expires_at: hold.expires_at });
    // The same claim again is still answered with the same hold (idempotency survives too).
    const again = await claim(sale, s.token);
    expect(again.status).toBe(200);
    expect(again.body.hold.id).toBe(hold.id);

    const paid = await pay(hold.id, s.token, "tok_ok");
    expect(paid.status).toBe(200);
    const orderId = paid.body.order_id as string;
    await restart(sale);

    const order = await call("GET", `/api/orders/${orderId}`, { token: s.token });
    expect(order.status).toBe(200);
    expect(order.body.order).toMatchObject({ id: orderId, hold_id: hold.id });
    const st = await expectStockInvariant(sale, expect);
    expect(st.stock).toMatchObject({ sold: 1, held: 0, available: 4 });
    // The order is on its way (outbox) or already in D1: one or the other, never neither.
    const inD1 = (await d1OrdersFor(hold.id)).length;
    expect(st.outbox.backlog + inD1).toBeGreaterThanOrEqual(1);

    await until(sale, async () => (await d1OrdersFor(hold.id)).length > 0);
    await restart(sale);
    await until(sale, async () => (await stats(sale)).outbox.backlog === 0);
    const rows = await d1OrdersFor(hold.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: orderId, charge_id: order.body.order.charge_id });
    expect(await chargesFor(hold.id)).toHaveLength(1);
  });

  it("settles a payment whose outcome was unknown at the restart exactly once (202, restart, alarms)", async () => {
    const sale = await createSale({ stock_total: 5 });
    const s = await session();
    const hold = await heldBy(sale, s.token);
    // tok_late_400: the client gives up (202 pending), the charge lands 400 ms after it was made.
    const res = await pay(hold.id, s.token, "tok_late_400");
    expect(res.status).toBe(202);
    expect(res.body.hold.status).toBe("pending");

    await restart(sale);
    // Not released by the restart: still pending (or already confirmed by the gateway's webhook).
    const mid = await expectStockInvariant(sale, expect);
    expect((mid.holds.pending ?? 0) + (mid.holds.confirmed ?? 0)).toBe(1);
    expect(mid.stock!.held + mid.stock!.sold).toBe(1);
    await expectSettledOnce(sale, hold.id);
  });

  it("settles a payment exactly once when the object restarts while the gateway call is in flight", async () => {
    const sale = await createSale({ stock_total: 5 });
    const s = await session();
    const hold = await heldBy(sale, s.token);
    const paying = pay(hold.id, s.token, "tok_late_400"); // the charge call takes ~300 ms
    // Restart once `pending` is stored, i.e. while the object waits on the gateway.
    await until(sale, async () => (await stats(sale)).holds.pending === 1);
    await restart(sale);
    const answer = await paying; // lost with the old instance (503, retry) or answered before: either way
    expect([202, 503]).toContain(answer.status);
    if (answer.status === 503) expectRetryable(answer);

    await expectSettledOnce(sale, hold.id);
  });

  it("keeps every claim answered 201 when the object restarts during a burst; lost answers replay", async () => {
    // More stock than shoppers: every claim should end as a hold, so a lost one cannot hide.
    const sale = await createSale({ stock_total: 250 });
    const shoppers = await Promise.all(Array.from({ length: 200 }, () => session()));
    const shots = shoppers.map((s) => ({ token: s.token, key: idemKey() }));
    await Promise.all(shots.map((x) => passFor(sale, x.token))); // admitted first, so the claims land together

    const since = (await stats(sale)).served.since;
    const pending = shots.map((x) => claim(sale, x.token, x.key));
    await Promise.race(pending); // the first group commit is answered; later ones may be in flight
    await restart(sale, since);
    const answers = await Promise.all(pending);

    const acked = answers.filter((a) => a.status === 201).map((a) => a.body.hold.id as string);
    expect(acked.length).toBeGreaterThan(0);
    for (const a of answers) expect([201, 503]).toContain(a.status); // 503: lost with the old instance, retry
    for (const a of answers.filter((x) => x.status === 503)) expectRetryable(a);

    // After the restart every acknowledged hold is still there, held by its shopper.
    for (const [i, a] of answers.entries()) {
      if (a.status !== 201) continue;
      const h = await getHold(a.body.hold.id, shots[i]!.token);
      expect(h.status).toBe(200);
      expect(h.body.hold.status).toBe("held");
    }
    let st = await expectStockInvariant(sale, expect);
    expect(st.holds.held).toBeGreaterThanOrEqual(acked.length);

    // Shoppers whose answer was lost retry with the same key: they get the hold that was stored
    // (200) or a new one (201), never a second hold, and the stock still adds up.
    const retried = await Promise.all(
      answers.map((a, i) => (a.status === 503 ? claim(sale, shots[i]!.token, shots[i]!.key) : Promise.resolve(a))),
    );
    const ids = retried.filter((r) => r.status === 200 || r.status === 201).map((r) => r.body.hold.id as string);
    expect(new Set(ids).size).toBe(ids.length);
    st = await expectStockInvariant(sale, expect);
    expect(st.holds.held).toBe(ids.length);
    expect(ids.length).toBe(shots.length); // every shopper ends with exactly one hold
    const lost = answers.filter((a) => a.status === 503).length;
    const stored = retried.filter((r, i) => answers[i]!.status === 503 && r.status === 200).length;
    console.log(`restart during a burst: ${acked.length} answered, ${lost} lost (${stored} of them had been stored)`);
  });

  it("still expires a hold after a restart: the alarm survives", async () => {
    const sale = await createSale({ stock_total: 3, hold_ttl_s: 1 });
    const s = await session();
    const hold = await heldBy(sale, s.token);

    await restart(sale);
    const alarm = await runInDurableObject(stub(sale), (_i, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.parse(hold.expires_at));

    // No hand-run alarm here: the runtime's own alarm must wake the new instance.
    await eventually(async () => (await stats(sale)).holds.expired === 1);
    const h = await getHold(hold.id, s.token);
    expect(h.body.hold).toMatchObject({ status: "expired" });
    const st = await expectStockInvariant(sale, expect);
    expect(st.stock).toMatchObject({ available: 3, held: 0 });
  });
});
