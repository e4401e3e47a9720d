import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fromPlatform } from "../domain/clock";
import { orderIdOf } from "../domain/ids";
import { isPoison } from "../durable-objects/inventory/d1-errors";
import { POISON_TRIES } from "../durable-objects/inventory/outbox";
import { advanceClockTo, now } from "./support/clock";
import { createSale } from "./support/sales";
import { heldBy, pay, session } from "./support/shoppers";
import { admin, d1Orders, ledger, runAlarm, stats, stub, until } from "./support/worker";

/** Reads the object's own storage: the outbox's next flush time and its alarm. */
const schedule = (sale: string) =>
  runInDurableObject(stub(sale), async (_i, state) => ({
    flushAt: (state.storage.sql.exec<{ v: number }>("SELECT v FROM meta WHERE k = 'flush_at'").toArray()[0]?.v ?? null) as number | null,
    alarm: await state.storage.getAlarm().then((t) => (t === null ? null : fromPlatform(t))),
  }));

/** A real D1 outage for `orders`: every INSERT INTO orders (and so every flush batch) fails. */
const ordersDown = () => env.DB.exec("ALTER TABLE orders RENAME TO orders_away");
const ordersUp = () => env.DB.exec("ALTER TABLE orders_away RENAME TO orders");

async function withOrdersDown<T>(fn: () => Promise<T>): Promise<T> {
  await ordersDown();
  try {
    return await fn();
  } finally {
    await ordersUp(); // always, so later tests see a working D1
  }
}

/**
 * Confirms one hold per new shopper (tok_ok) and returns the hold ids. Pays go ten at a time;
 * on a loaded box a charge can still outrun PAY_TIMEOUT_MS (202 pending), so wait for the
 * re-ask to confirm it rather than assume the first answer.
 */
async function confirmed(sale: string, n: number): Promise<string[]> {
  const before = (await stats(sale)).holds.confirmed ?? 0;
  const ids: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, async () => {
        const s = await session();
        const h = await heldBy(sale, s.token);
        const r = await pay(h.id, s.token, "tok_ok");
        expect([200, 202]).toContain(r.status);
        return h.id;
      }),
    );
    ids.push(...chunk);
  }
  await until(sale, async () => (await stats(sale)).holds.confirmed === before + n);
  return ids;
}

/** D1 rows per hold for this sale: the "exactly once" check. */
async function d1CountByHold(sale: string) {
  const { results } = await env.DB.prepare("SELECT hold_id, COUNT(*) AS n FROM orders WHERE sale_id = ? GROUP BY hold_id")
    .bind(sale)
    .all<{ hold_id: string; n: number }>();
  return new Map(results.map((r) => [r.hold_id, r.n]));
}

function expectExactlyOnce(byHold: Map<string, number>, holds: string[]) {
  expect([...byHold.keys()].sort()).toEqual([...holds].sort());
  for (const n of byHold.values()) expect(n).toBe(1);
}

/** The catalog row is flushed first, so an outage started afterwards only concerns orders. */
async function saleFlushed(sale: string) {
  await until(sale, async () => (await stats(sale)).outbox.backlog === 0);
}

/**
 * Invariant 5: every confirmed order reaches D1 exactly once. A D1 outage delays orders (they
 * wait in the object's outbox, retried with backoff), never loses or duplicates them; a repeated
 * flush and a reconcile write nothing twice; big backlogs go in FLUSH_BATCH-sized batches.
 */
describe("outbox to D1", () => {
  it("keeps orders in the outbox while D1 rejects writes, backs off, then delivers each once", async () => {
    const sale = await createSale({ stock_total: 10 });
    await saleFlushed(sale);
    const shoppers = await Promise.all(Array.from({ length: 8 }, () => session()));
    const holds = await Promise.all(shoppers.map(async (s) => ({ s, id: (await heldBy(sale, s.token)).id })));
    const payAll = (hs: typeof holds) =>
      Promise.all(hs.map(async (h) => expect([200, 202]).toContain((await pay(h.id, h.s.token, "tok_ok")).status)));

    await withOrdersDown(async () => {
      await payAll(holds.slice(0, 5));
      // The confirms asked for a flush right away (FLUSH_DELAY_MS 0); it failed.
      await until(sale, async () => (await stats(sale)).outbox.failures >= 1);
      const first = await schedule(sale);
      const f1 = (await stats(sale)).outbox.failures;

      // Orders confirmed during the backoff wait for the scheduled retry; they do not force one
      // each (that would hammer D1 and run the backoff up to its cap within a second).
      await payAll(holds.slice(5));
      const mid = await schedule(sale);
      const midFailures = (await stats(sale)).outbox.failures;
      if (now() < first.flushAt!) {
        expect(mid.flushAt).toBe(first.flushAt);
        expect(midFailures).toBe(f1);
      }

      await until(sale, async () => (await stats(sale)).holds.confirmed === 8);
      let s = await stats(sale);
      expect(s.outbox.backlog).toBe(8);
      expect(s.stock!.sold).toBe(8);
      const inD1 = await env.DB.prepare("SELECT COUNT(*) AS n FROM orders_away WHERE sale_id = ?").bind(sale).first<{ n: number }>("n");
      expect(inD1).toBe(0);

      // Each failure pushes the next try further out (0.5 s, 1 s, ...), and the alarm follows.
      let prev = await schedule(sale);
      expect(prev.flushAt).not.toBeNull();
      expect(prev.alarm).not.toBeNull();
      expect(prev.alarm!).toBeLessThanOrEqual(prev.flushAt!); // an earlier wake-up is harmless, a later one not
      const failuresBefore = s.outbox.failures;
      while (s.outbox.failures < failuresBefore + 2) {
        advanceClockTo(prev.flushAt! + 20);
        await runAlarm(sale);
        const now = await schedule(sale);
        s = await stats(sale);
        if (now.flushAt === prev.flushAt) continue; // the retry has not run yet
        // A failure happens no earlier than the previous flush time, so the gap is at least the
        // backoff for the failure count now recorded.
        expect(now.flushAt! - prev.flushAt!).toBeGreaterThanOrEqual(500 * 2 ** (s.outbox.failures - 1));
        expect(now.alarm).toBe(now.flushAt);
        prev = now;
      }
      expect(s.outbox.backlog).toBe(8);
      expect(s.outbox.batches).toBe(1); // only the catalog row ever got through
    });

    // D1 is back: the next scheduled retry delivers everything, once.
    const ids = holds.map((h) => h.id);
    await until(sale, async () => (await stats(sale)).outbox.backlog === 0, 8000);
    expectExactlyOnce(await d1CountByHold(sale), ids);
    const s = await stats(sale);
    expect(s.outbox.failures).toBe(0);
    expect(s.outbox.rows).toBe(1 + 8);

    // What D1 holds is what was charged: one order per charge, same charge ids.
    const charges = (await ledger()).filter((c) => ids.includes(c.reference));
    expect(charges).toHaveLength(8);
    const orders = await d1Orders(sale);
    expect(orders.map((o) => o.charge_id).sort()).toEqual(charges.map((c) => c.charge_id).sort());
  });

  it("writes nothing twice when a flush is repeated after a crash or a reconcile", async () => {
    const sale = await createSale({ stock_total: 10 });
    const holds = await confirmed(sale, 3);
    await until(sale, async () => (await d1Orders(sale)).length === 3);
    const first = await d1Orders(sale);

    // A crash between D1's commit and the outbox delete: the same records are sent again.
    await runInDurableObject(stub(sale), (_i, state) => {
      const sql = state.storage.sql;
      for (const o of first) {
        const { recorded_at: _, ...body } = o as typeof o & { recorded_at: string };
        sql.exec("INSERT INTO outbox (id, kind, body, created_at) VALUES (?, 'order', ?, ?)", o.id, JSON.stringify(body), now());
      }
      sql.exec("INSERT INTO meta (k, v) VALUES ('flush_at', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", now());
      void state.storage.setAlarm(Date.now() + 60_000); // later than the test: only runAlarm below fires it
    });
    expect((await stats(sale)).outbox.backlog).toBe(3);
    await until(sale, async () => (await stats(sale)).outbox.backlog === 0);
    expect(await d1Orders(sale)).toEqual(first); // same rows, not even re-recorded
    expectExactlyOnce(await d1CountByHold(sale), holds);

    // An order lost from D1 (a restore from an old backup, say): reconcile finds and re-sends it.
    const lost = first[1]!;
    await env.DB.prepare("DELETE FROM orders WHERE id = ?").bind(lost.id).run();
    const rec = await admin("POST", `/sales/${sale}/reconcile`);
    expect(rec.status).toBe(200);
    expect(rec.body.report.orders).toMatchObject({ ledger: 3, d1: 2, in_outbox: 0, missing: [lost.id], unexpected: [] });
    expect(rec.body.report.re_enqueued).toBe(1);
    expect(rec.body.report.backlog_after).toBe(0);
    expectExactlyOnce(await d1CountByHold(sale), holds);
    expect((await d1Orders(sale)).find((o) => o.id === lost.id)).toMatchObject({
      hold_id: lost.hold_id,
      charge_id: lost.charge_id,
      amount: lost.amount,
    });

    // Reconciling a consistent sale changes nothing.
    const again = await admin("POST", `/sales/${sale}/reconcile`);
    expect(again.body.report.orders).toMatchObject({ ledger: 3, d1: 3, missing: [], unexpected: [] });
    expect(again.body.report.re_enqueued).toBe(0);
    expectExactlyOnce(await d1CountByHold(sale), holds);
    for (const h of holds) expect(first.some((o) => o.id === orderIdOf(h))).toBe(true);
  });

  it("flushes a backlog of 60 orders in batches of FLUSH_BATCH (50), each order once", async () => {
    const sale = await createSale({ stock_total: 100 });
    await saleFlushed(sale);
    const before = (await stats(sale)).outbox;

    // Hold the flush back with an outage so the 60 orders are all waiting together.
    const holds = await withOrdersDown(async () => {
      const holds = await confirmed(sale, 60);
      expect((await stats(sale)).outbox.backlog).toBe(60);
      return holds;
    });
    await until(sale, async () => (await stats(sale)).outbox.backlog === 0, 8000);

    expectExactlyOnce(await d1CountByHold(sale), holds);
    const after = (await stats(sale)).outbox;
    expect(after.rows - before.rows).toBe(60);
    expect(after.batches - before.batches).toBe(2); // 50 + 10
    expect(after.max_batch).toBe(50);
  });
});

/**
 * Dead letters: a record D1 refuses for what it is (d1-errors.ts) must not hold up the records
 * behind it. It is tried again a few times, then set aside, shown in the stats, and resent by
 * reconcile once the cause is fixed.
 */
describe("poisoned records", () => {
  /** The error D1 gives for a statement (null if it runs). */
  const d1Error = async (run: () => Promise<unknown>) => {
    try {
      await run();
      return null;
    } catch (e) {
      return e;
    }
  };

  it("classifies D1's own errors: constraints, types and bad SQL are the record's; a missing table, a lost connection, a timeout are an outage", async () => {
    const sale = await createSale({ stock_total: 1 });
    await saleFlushed(sale);
    const order = (over: Record<string, unknown>) => {
      const row = {
        id: `o-${Math.random()}`,
        sale_id: sale,
        hold_id: `h-${Math.random()}`,
        user_id: "u",
        product_id: "p",
        qty: 1,
        amount: 1,
        currency: "EUR",
        charge_id: "c",
        held_at: "t",
        confirmed_at: "t",
        ...over,
      };
      return env.DB.prepare(
        `INSERT INTO orders (${Object.keys(row).join(", ")}) VALUES (${Object.keys(row)
          .map(() => "?")
          .join(", ")})`,
      ).bind(...Object.values(row));
    };
    const poison = {
      UNIQUE: await d1Error(async () => {
        await order({ hold_id: "dup" }).run();
        await order({ hold_id: "dup" }).run();
      }),
      CHECK: await d1Error(() => order({ qty: 0 }).run()),
      "NOT NULL": await d1Error(() => order({ user_id: null }).run()),
      "FOREIGN KEY": await d1Error(() => order({ sale_id: "no-such-sale" }).run()),
      "an unbindable type": await d1Error(() => order({ amount: { cents: 1 } }).run()),
      "bad SQL": await d1Error(() => env.DB.prepare("INSERT INTO orders VALUES (").run()),
      "a body that is not JSON": new Error("poisoned record x: SyntaxError: Unexpected token"),
    };
    const outage = {
      "a missing table (a migration not applied)": await d1Error(() => env.DB.prepare("INSERT INTO orders_nowhere (id) VALUES (1)").run()),
      "a missing column": await d1Error(() => env.DB.prepare("INSERT INTO orders (nope) VALUES (1)").run()),
      "the injected outage": new Error("injected fault: D1 unavailable"),
      "a lost connection": new Error("D1_ERROR: Network connection lost."),
      "an overloaded database": new Error("D1_ERROR: D1 DB is overloaded. Requests queued for too long."),
      "a timeout": new Error("D1_ERROR: D1 storage operation exceeded timeout which caused object to be reset."),
      "an internal error": new Error("D1_ERROR: internal error"),
    };
    for (const [what, e] of Object.entries(poison))
      expect({ what, real: e !== null, poison: isPoison(e) }).toEqual({ what, real: true, poison: true });
    for (const [what, e] of Object.entries(outage))
      expect({ what, real: e !== null, poison: isPoison(e) }).toEqual({ what, real: true, poison: false });
  });

  it("sets a poisoned order aside after POISON_TRIES, sends the orders behind it, shows it, and reconcile resends it after the fix", async () => {
    const sale = await createSale({ stock_total: 10 });
    await saleFlushed(sale);
    const alice = await session();
    const poisoned = await heldBy(sale, alice.token);
    // A row a bad manual import left in D1 holds this hold id under another order id: the real
    // order breaks UNIQUE (hold_id) on every try, whatever the outbox does.
    await env.DB.prepare(
      `INSERT INTO orders (id, sale_id, hold_id, user_id, product_id, qty, amount, currency, charge_id, held_at, confirmed_at)
       VALUES ('imported-by-mistake', ?, ?, 'someone', 'p', 1, 1, 'EUR', 'ch_x', 't', 't')`,
    )
      .bind(sale, poisoned.id)
      .run();
    expect((await pay(poisoned.id, alice.token, "tok_ok")).status).toBe(200);
    const behind = await confirmed(sale, 3);

    // The orders behind it reach D1 while it waits for its next try, then it goes aside.
    await until(sale, async () => (await d1Orders(sale)).filter((o) => behind.includes(o.hold_id)).length === 3);
    await until(sale, async () => (await stats(sale)).outbox.dead_letters === 1, 8000);
    const s = await stats(sale);
    expect(s.outbox.backlog).toBe(0);
    expect(s.outbox.failures).toBe(0); // not an outage
    expect(s.outbox.last_dead_letter).toMatchObject({
      id: orderIdOf(poisoned.id),
      kind: "order",
      error: expect.stringMatching(/UNIQUE constraint failed: orders.hold_id/),
    });
    const dead = await runInDurableObject(stub(sale), (_i, state) =>
      state.storage.sql.exec<{ tries: number }>("SELECT tries FROM outbox_dead").toArray(),
    );
    expect(dead).toEqual([{ tries: POISON_TRIES }]);
    const sold = await admin("GET", `/sales/${sale}`);
    expect(sold.body.outbox.dead_letters).toBe(1); // the operator's view (the admin schema)

    // Fixed: the stray row is removed; reconcile resends the dead letter, and it lands once.
    await env.DB.prepare("DELETE FROM orders WHERE id = 'imported-by-mistake'").run();
    const rec = await admin("POST", `/sales/${sale}/reconcile`);
    expect(rec.status).toBe(200);
    expect(rec.body.report).toMatchObject({ dead_letters_resent: 1, re_enqueued: 0, backlog_after: 0 });
    expect((await stats(sale)).outbox).toMatchObject({ dead_letters: 0, last_dead_letter: null });
    expectExactlyOnce(await d1CountByHold(sale), [poisoned.id, ...behind]);
    expect((await d1Orders(sale)).find((o) => o.hold_id === poisoned.id)).toMatchObject({ id: orderIdOf(poisoned.id), amount: 49_900 });
  });

  it("an outage in the middle of a poisoned batch backs off like any outage (nothing is set aside for it)", async () => {
    const sale = await createSale({ stock_total: 10 });
    await saleFlushed(sale);
    await withOrdersDown(async () => {
      await confirmed(sale, 3);
      await until(sale, async () => (await stats(sale)).outbox.failures >= 2, 8000);
      const s = await stats(sale);
      expect(s.outbox).toMatchObject({ backlog: 3, dead_letters: 0 });
    });
    await until(sale, async () => (await stats(sale)).outbox.backlog === 0, 8000);
    expect(await d1Orders(sale)).toHaveLength(3);
  });
});
