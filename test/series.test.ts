import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { catalog, room } from "../domain/objects";
import { SERIES_KEEP_S } from "../domain/schemas/series";
import { Series, seriesTable, type SeriesOptions } from "../durable-objects/series";
import { advanceClockTo, now } from "./support/clock";
import { createSale, saleId } from "./support/sales";
import { admitted, claim, enqueue, heldBy, pay, session } from "./support/shoppers";
import { call, ops, stub } from "./support/worker";

/**
 * The operators' per-second history (durable-objects/series.ts): counting touches memory only,
 * a second is written once, after it ends, outside any caller's transaction, and the table is a
 * ring that never holds more than an hour of rows. Run on a real object's SQLite storage.
 */

/** Runs `fn` with a fresh object's storage (the catalog class: any SQLite-backed object will do). */
function withStorage<T>(fn: (sql: SqlStorage) => T): Promise<T> {
  const s = env.CATALOG.get(env.CATALOG.idFromName(saleId("series-store")));
  return runInDurableObject(s, (_i, state) => fn(state.storage.sql));
}

/** A series over its table, made as its object's schema makes it. */
function series(sql: SqlStorage, o: SeriesOptions): Series {
  sql.exec(seriesTable(o.table));
  return new Series(sql, o);
}

/** The storage, with every `exec` counted (and made to fail once `failing` is set). */
function counted(sql: SqlStorage) {
  const seen = { execs: 0, failing: false };
  const proxy = new Proxy(sql, {
    get(target, prop) {
      if (prop !== "exec") return Reflect.get(target, prop);
      return (query: string, ...args: unknown[]) => {
        seen.execs++;
        if (seen.failing && query.startsWith("INSERT")) throw new Error("disk on fire");
        return target.exec(query, ...args);
      };
    },
  });
  return { sql: proxy, seen };
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe("Series", () => {
  it("counts in memory: 10,000 adds in one second run no SQL; the second is one row once it has ended", async () => {
    await withStorage((raw) => {
      const { sql, seen } = counted(raw);
      const s = series(sql, { table: "t_mem" });
      const created = seen.execs;
      for (let i = 0; i < 10_000; i++) s.add(T0 + (i % 1000), { claim_held: 1, claim_sold_out: i % 2 });
      s.peak(T0 + 10, { d1_lag_ms: 40 });
      s.peak(T0 + 20, { d1_lag_ms: 25 });
      expect(seen.execs - created).toBe(0);
      // Not written while its second runs; pending seconds are read all the same.
      s.flush(T0 + 999);
      expect(raw.exec("SELECT COUNT(*) AS n FROM t_mem").one().n).toBe(0);
      expect(s.read(T0 + 999)).toEqual({ t: [T0 / 1000], values: { claim_held: [10_000], claim_sold_out: [5000], d1_lag_ms: [40] } });
      s.flush(T0 + 1000);
      expect(raw.exec("SELECT COUNT(*) AS n FROM t_mem").one().n).toBe(1);
      expect(s.read(T0 + 1000)).toEqual({ t: [T0 / 1000], values: { claim_held: [10_000], claim_sold_out: [5000], d1_lag_ms: [40] } });
    });
  });

  it("adds a sample of the gauges to the second it writes, and reads after `since` only", async () => {
    await withStorage((sql) => {
      let backlog = 3;
      const s = series(sql, { table: "t_sample", sample: () => ({ backlog: backlog++ }) });
      s.add(T0, { paid: 2 });
      s.flush(T0 + 1000);
      s.add(T0 + 5000, { paid: 1, declined: 1 });
      s.flush(T0 + 6000);
      const all = s.read(T0 + 6000);
      expect(all).toEqual({ t: [T0 / 1000, T0 / 1000 + 5], values: { paid: [2, 1], backlog: [3, 4], declined: [null, 1] } });
      expect(s.read(T0 + 6000, T0 / 1000).t).toEqual([T0 / 1000 + 5]);
    });
  });

  it(`is a ring: ${SERIES_KEEP_S + 400} seconds of rows leave ${SERIES_KEEP_S}, and only the last hour is read`, async () => {
    await withStorage((sql) => {
      const s = series(sql, { table: "t_ring" });
      const n = SERIES_KEEP_S + 400;
      for (let i = 0; i < n; i++) {
        s.add(T0 + i * 1000, { queued: i + 1 });
        s.flush(T0 + (i + 1) * 1000);
      }
      expect(sql.exec("SELECT COUNT(*) AS n FROM t_ring").one().n).toBe(SERIES_KEEP_S);
      // Read in the last second written: the hour up to it is every row the ring holds.
      const r = s.read(T0 + n * 1000 - 1);
      expect(r.t.length).toBe(SERIES_KEEP_S);
      expect(r.t[0]).toBe(T0 / 1000 + 400);
      expect(r.values.queued!.at(-1)).toBe(n);
    });
  });

  it("a failing write is reported and loses only its seconds: counting goes on, nothing is thrown", async () => {
    await withStorage((raw) => {
      const { sql, seen } = counted(raw);
      const warned: unknown[] = [];
      const s = series(sql, { table: "t_fail", warn: (event, fields) => warned.push({ event, ...fields }) });
      seen.failing = true;
      s.add(T0, { claim_held: 3 });
      expect(() => s.flush(T0 + 1000)).not.toThrow();
      expect(warned).toMatchObject([{ event: "series_write_failed", table: "t_fail", seconds: 1 }]);
      seen.failing = false;
      s.add(T0 + 1000, { claim_held: 1 });
      s.flush(T0 + 2000);
      expect(s.read(T0 + 2000)).toEqual({ t: [T0 / 1000 + 1], values: { claim_held: [1] } });
    });
  });
});

describe("GET /admin/sales/:id/series", () => {
  it("counts claims by outcome, payments, joins, admissions and the edge's rejections, per second", async () => {
    const sale = await createSale({ stock_total: 2 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    await admitted(sale, a, b, c); // c is admitted too (two per unit), and finds the units taken
    const hold = await heldBy(sale, a.token);
    expect((await pay(hold.id, a.token, "tok_ok")).status).toBe(200);
    await heldBy(sale, b.token);
    expect((await claim(sale, c.token)).status).toBe(409); // sold out: the object's answer
    // A bad proof of work is refused at the edge and counted in the room.
    const { token } = await session();
    const ch = await call("POST", `/api/sales/${sale}/challenge`, { token });
    expect(
      (await call("POST", `/api/sales/${sale}/queue`, { token, body: { challenge: `${ch.body.challenge}x`, solution: "0" } })).status,
    ).toBe(403);

    const r = await ops.series(sale);
    expect(r.status).toBe(200);
    const sum = (f: string) => ((r.body.values[f] ?? []) as (number | null)[]).reduce<number>((n, v) => n + (v ?? 0), 0);
    expect(sum("claim_held")).toBe(2);
    expect(sum("claim_sold_out")).toBe(1);
    expect(sum("paid")).toBe(1);
    expect(sum("queued")).toBe(3);
    expect(sum("admitted")).toBe(3);
    expect(sum("rejected_pow")).toBe(1);
    expect(r.body).toMatchObject({ step_s: 1, keep_s: SERIES_KEEP_S });
    expect(r.body.t).toEqual([...r.body.t].sort((x: number, y: number) => x - y));
    for (const col of Object.values(r.body.values) as unknown[][]) expect(col.length).toBe(r.body.t.length);
    // Everything so far is at or before now: a later `since` answers nothing.
    expect((await ops.series(sale, r.body.now)).body.t).toEqual([]);
  });

  it("keeps what it wrote across a restart of the product object (the page opened mid-sale sees it)", async () => {
    const sale = await createSale({ stock_total: 5 });
    const { token } = await session();
    await heldBy(sale, token);
    // The second ends and the object's timer (real time: the next second's start) writes it.
    await vi.waitFor(
      () =>
        runInDurableObject(stub(sale), (_i, state) =>
          expect(state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM series WHERE v LIKE '%claim_held%'").one().n).toBe(1),
        ),
      { timeout: 3000, interval: 25 },
    );
    await runInDurableObject(stub(sale), (_i, state) => state.abort("test restart")).catch(() => {});
    const r = await ops.series(sale);
    const held = (r.body.values.claim_held as (number | null)[]).reduce<number>((n, v) => n + (v ?? 0), 0);
    expect(held).toBe(1);
    // The gauges sampled when it was written: the stock as it stood.
    expect(r.body.values.available?.filter((v: number | null) => v !== null).at(-1)).toBe(4);
  });

  it("refuses a bad `since` and an unknown sale", async () => {
    const sale = await createSale();
    expect((await call("GET", `/admin/sales/${sale}/series?since=yesterday`, { token: env.ADMIN_TOKEN })).body.error).toBe(
      "invalid_request",
    );
    expect((await call("GET", `/admin/sales/${sale}/series?from=1`, { token: env.ADMIN_TOKEN })).status).toBe(400);
    expect((await ops.series(saleId("nope"))).status).toBe(404);
    expect((await catalog(env).list()).some((s) => s.id.startsWith("nope"))).toBe(false);
  });
});

describe("GET /admin/sales", () => {
  it("lists the sales newest first with their status and stock, as each sale's stats say", async () => {
    const first = await createSale({ stock_total: 3 });
    const second = await createSale({ stock_total: 7 });
    await ops.pause(second);
    const { token } = await session();
    await heldBy(first, token);
    const r = await ops.list();
    expect(r.status).toBe(200);
    const ids = r.body.sales.map((s: { sale: { id: string } }) => s.sale.id);
    expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
    expect(r.body.total).toBeGreaterThanOrEqual(2);
    for (const id of [first, second]) {
      const row = r.body.sales.find((s: { sale: { id: string } }) => s.sale.id === id);
      const stats = (await ops.stats(id)).body;
      expect(row.stock).toEqual(stats.stock);
      expect(row.sale).toEqual(stats.sale);
    }
    expect(r.body.sales.find((s: { sale: { id: string } }) => s.sale.id === second).sale.status).toBe("paused");
    expect((await call("GET", "/admin/sales")).status).toBe(401);
  });
});

// Shoppers joining before the opening are counted as queued, admitted only when it opens.
describe("the room's series", () => {
  it("counts a join before the opening as queued and its admission when the sale opens", async () => {
    const startsAt = now() + 60_000; // reached by moving the clock: the join is before it on any machine
    const sale = await createSale({ starts_at: new Date(startsAt).toISOString() });
    const { token } = await session();
    expect((await enqueue(sale, token)).status).toBe(201);
    let r = (await ops.series(sale)).body;
    expect(r.values.queued?.reduce((n: number, v: number | null) => n + (v ?? 0), 0)).toBe(1);
    expect(r.values.admitted).toBeUndefined();
    advanceClockTo(startsAt + 400);
    await runDurableObjectAlarm(room(env, sale)); // the room's tick at the opening, now rather than on its timer
    r = (await ops.series(sale)).body;
    expect(r.values.admitted?.reduce((n: number, v: number | null) => n + (v ?? 0), 0)).toBe(1);
  });
});
