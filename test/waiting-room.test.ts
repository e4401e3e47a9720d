import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { decode } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { room } from "../domain/objects";
import type { Admission } from "../domain/admission";
import { burstOf } from "../domain/admission";
import { createSale } from "./support/sales";
import { enqueue, session } from "./support/shoppers";
import { admin, call, sleep } from "./support/worker";

const roomOf = (sale: string) => room(env, sale);
const nonce = () => crypto.randomUUID().replaceAll("-", "");
/** A place in line straight from the object (what POST /queue does after the challenge checks). */
const join = (sale: string, user: string) => roomOf(sale).join(user, nonce(), Date.now() + 120_000);

/** The room's line and stored admission state, read from SQLite without advancing anything. */
const stored = (sale: string) =>
  runInDurableObject(roomOf(sale), (_inst, state) => {
    const sql = state.storage.sql;
    const row = sql.exec<{ opened: number; ranked: number; admission: string }>("SELECT opened, ranked, admission FROM room").one();
    const line = sql.exec<{ user_id: string; seq: number; rank: number | null }>("SELECT user_id, seq, rank FROM line ORDER BY seq").toArray();
    return { opened: row.opened === 1, ranked: row.ranked, admission: JSON.parse(row.admission) as Admission, line };
  });

const ticketClaims = (t: string) => decode(t).payload as { sub: string; sale: string; seq: number; pos?: number };
const at = (ms: number) => new Date(ms).toISOString();

/**
 * Invariant 7, the order half: arrivals before the start are a lottery drawn at the start
 * (each exactly once, independently per sale), arrivals after it are first come, first served,
 * and a shopper who queues again keeps their place.
 */
describe("waiting room order", () => {
  it("shuffles the pre-queue at the start (nobody lost or duplicated), then serves later arrivals in order", async () => {
    // Far enough ahead that a slow machine cannot reach the start while the line forms; the
    // start is then brought forward in the rooms, as the admin route would configure them.
    const later = Date.now() + 3600_000;
    const cfg = { starts_at: at(later), ends_at: at(later + 3600_000) };
    const [a, b] = await Promise.all([createSale(cfg), createSale(cfg)]);
    const users = Array.from({ length: 50 }, (_, i) => `pre-${i}`);
    // The same 50 shoppers arrive in the same order at both sales.
    for (const [i, u] of users.entries()) {
      for (const sale of [a, b]) {
        const r = await join(sale, u);
        expect(r).toMatchObject({ ok: true, value: { seq: i + 1, rank: null, created: true } });
      }
    }
    expect(await roomOf(a).watermark()).toMatchObject({ opened: false, prequeued: 50, ranked: 0, upto: 0 });

    const startsAt = Date.now() + 300;
    for (const sale of [a, b]) {
      await roomOf(sale).configure({ sale_id: sale, starts_at: startsAt, ends_at: later + 3600_000, admission_rate: 100_000, max_active: 10_000_000 });
    }
    expect((await stored(a)).opened).toBe(false);
    // The room's own alarm opens it at the start (nothing here asks it to).
    await sleep(startsAt - Date.now() + 50);
    for (let i = 0; !(await stored(a)).opened || !(await stored(b)).opened; i++) {
      if (i > 40) throw new Error("the room did not open on its alarm");
      await sleep(50);
    }

    const orders: string[][] = [];
    for (const sale of [a, b]) {
      const s = await stored(sale);
      expect(s.ranked).toBe(50);
      expect(s.line).toHaveLength(50);
      // Ranks 1..50, each exactly once, and every shopper kept their arrival seq.
      expect(s.line.map((l) => l.rank).sort((x, y) => x! - y!)).toEqual(users.map((_, i) => i + 1));
      expect(s.line.map((l) => l.user_id)).toEqual(users);
      const byRank = [...s.line].sort((x, y) => x.rank! - y.rank!).map((l) => l.user_id);
      // Not the arrival order (a 1 in 50! chance of a false failure).
      expect(byRank).not.toEqual(users);
      orders.push(byRank);
    }
    // Two draws with the same arrivals are independent.
    expect(orders[0]).not.toEqual(orders[1]);

    // After the start: first come, first served, behind the whole pre-queue.
    for (let i = 0; i < 10; i++) {
      const r = await join(a, `post-${i}`);
      expect(r).toMatchObject({ ok: true, value: { seq: 51 + i, rank: 51 + i, created: true } });
    }

    // Queueing again (with a new challenge) keeps the place, before and after the draw alike.
    const again = await join(a, users[7]!);
    const was = (await stored(a)).line.find((l) => l.user_id === users[7])!;
    expect(again).toMatchObject({ ok: true, value: { seq: 8, rank: was.rank, created: false } });
    expect(await join(a, "post-3")).toMatchObject({ ok: true, value: { seq: 54, rank: 54, created: false } });
    expect((await stored(a)).line).toHaveLength(60);
  });

  it("through the API: a pre-queue ticket gets its rank from the room once, at the first poll after the start", async () => {
    const startsAt = Date.now() + 1200;
    const sale = await createSale({ starts_at: at(startsAt) });
    const s = await session();
    const first = await enqueue(sale, s.token);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ state: "waiting", position: null, eta_s: null });
    expect(first.body.opens_in_s).toBeGreaterThanOrEqual(1);
    expect(ticketClaims(first.body.ticket)).toMatchObject({ sub: s.user, sale, seq: 1 });
    expect(ticketClaims(first.body.ticket).pos).toBeUndefined();

    // Before the start a poll does not ask the room for a rank (there is none yet).
    const early = await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": first.body.ticket } });
    expect(early.status).toBe(200);
    expect(early.body.position).toBeNull();
    expect((await roomOf(sale).stats()).served.places).toBe(0);

    await sleep(startsAt - Date.now() + 50);
    const after = await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": early.body.ticket } });
    expect(after.status).toBe(200);
    // Ranked now (admitted, or first in line if this isolate's watermark predates the opening).
    expect(after.body.position).toBeTypeOf("number");
    // The renewed ticket carries the rank, so later polls need no room at all.
    expect(ticketClaims(after.body.ticket)).toMatchObject({ seq: 1, pos: 1 });
    expect((await roomOf(sale).stats()).served.places).toBe(1);
    let r = after;
    for (let i = 0; r.body.state !== "admitted"; i++) {
      if (i > 30) throw new Error(`never admitted: ${JSON.stringify(r.body)}`);
      await sleep(100);
      r = await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": r.body.ticket } });
    }
    expect(typeof r.body.pass).toBe("string");
    expect((await roomOf(sale).stats()).served.places).toBe(1);

    // Queueing again through the API: 200 (not 201), same seq and rank.
    const requeue = await enqueue(sale, s.token);
    expect(requeue.status).toBe(200);
    expect(ticketClaims(requeue.body.ticket)).toMatchObject({ seq: 1, pos: 1 });
  });
});

/**
 * Invariant 7, the rate half, end to end on the real object with real alarms: a busy line is
 * admitted at about `admission_rate`, never faster than rate·T + burst, never past max_active,
 * and an operator's rate change applies from the next tick. (test/admission.test.ts is the
 * strict version on an injected clock; real timers only allow a loose lower bound here.)
 */
describe("admission on the real object", () => {
  it("admits ~rate per second from a line of 200, advancing on its own alarm", async () => {
    const R = 20;
    const sale = await createSale({ admission_rate: R });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 200 }, (_, i) => join(sale, `u-${i}`)));
    await sleep(2500);

    // Stored state, before anything reads the watermark: the alarm alone moved it along.
    const st = await stored(sale);
    expect(st.ranked).toBe(200);
    expect(st.admission.upto).toBeGreaterThanOrEqual(0.5 * R * 2.5);

    const w = await roomOf(sale).watermark();
    const T = (w.at - t0) / 1000;
    expect(w.upto).toBeLessThanOrEqual(R * T + burstOf(R));
    expect(w.upto).toBeGreaterThanOrEqual(0.8 * R * T);
    expect(w.upto).toBeLessThan(200);
  });

  it("never has more than max_active admitted at once", async () => {
    const sale = await createSale({ admission_rate: 200, max_active: 10 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => join(sale, `u-${i}`)));
    await sleep(400);
    const w1 = await roomOf(sale).watermark();
    expect(w1).toMatchObject({ upto: 10, active: 10, ranked: 50 });
    // Passes last 120 s: nobody else gets in while they are active, however long the line is.
    await sleep(600);
    expect((await stored(sale)).admission.upto).toBe(10);
    expect((await roomOf(sale).watermark()).upto).toBe(10);
  });

  it("applies PATCH admission_rate from the next tick (up and down), and admin stats show the queue", async () => {
    const sale = await createSale({ admission_rate: 5 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 300 }, (_, i) => join(sale, `u-${i}`)));
    await sleep(600);
    const slow = await roomOf(sale).watermark();
    expect(slow.upto).toBeLessThanOrEqual((5 * (slow.at - t0)) / 1000 + burstOf(5));

    const up = await admin("PATCH", `/sales/${sale}`, { admission_rate: 60 });
    expect(up.status).toBe(200);
    const w1 = await roomOf(sale).watermark();
    expect(w1.rate).toBe(60);
    await sleep(1000);
    const w2 = await roomOf(sale).watermark();
    const fast = w2.upto - w1.upto;
    const dt1 = (w2.at - w1.at) / 1000;
    expect(fast).toBeLessThanOrEqual(60 * dt1 + burstOf(60));
    expect(fast).toBeGreaterThanOrEqual(0.8 * 60 * dt1);

    const down = await admin("PATCH", `/sales/${sale}`, { admission_rate: 1 });
    expect(down.status).toBe(200);
    const w3 = await roomOf(sale).watermark();
    await sleep(800);
    const w4 = await roomOf(sale).watermark();
    // Tokens saved at 60/s do not carry over: at most the new burst plus the new rate.
    expect(w4.upto - w3.upto).toBeLessThanOrEqual((1 * (w4.at - w3.at)) / 1000 + burstOf(1));

    const res = await admin("GET", `/sales/${sale}`);
    expect(res.status).toBe(200);
    const q = res.body.queue;
    expect(q).toMatchObject({ in_line: 300, opened: true, admission_rate: 1, max_active: 10_000_000 });
    expect(q.admitted).toBeGreaterThanOrEqual(w4.upto);
    expect(q.admitted).toBeLessThanOrEqual(w4.upto + 3);
    expect(q.waiting).toBe(q.in_line - q.admitted);
    expect(q.active).toBe(q.admitted);
    expect(q.counters).toMatchObject({ queued: 300, rejected_pow: 0, rejected_rate_limit: 0, sold_out_fast_path: 0 });
    expect(q.served.joins).toBe(300);
  });
});
