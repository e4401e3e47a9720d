import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { room } from "../domain/objects";
import { advanceClock, advanceClockTo, now } from "./support/clock";
import { roomStats } from "./support/edge";
import { createSale } from "./support/sales";
import { idemKey, session } from "./support/shoppers";
import { api, ops, sleep, stats } from "./support/worker";

/**
 * Issue 19: a turn carries a unit. The room admits no more shoppers than units they can still
 * claim (available − turns out and unused), an admitted shopper's unit waits for them while their
 * pass lasts, an unused pass or an unpaid hold gives it to the next place, and once no unit can
 * come back the line is told `sold_out`, until units return.
 */
type Shopper = { token: string; ticket: string; place: { bucket: number; key: number }; answer: any };
const soon = (ms: number) => new Date(now() + ms).toISOString(); // on the one clock, which these tests move

async function join(sale: string): Promise<Shopper> {
  const s = await session();
  const r = await api.join(sale, s.token);
  expect(r.status).toBe(201);
  return { token: s.token, ticket: r.body.ticket, place: r.body.place, answer: r.body };
}

async function poll(sale: string, s: Shopper) {
  const r = await api.poll(sale, s.token, s.ticket);
  expect(r.status).toBe(200);
  s.ticket = r.body.ticket;
  s.answer = r.body;
  return r.body;
}

/** Polls every 200 ms (within the per-session rate limit) until `done` holds for the answer (or fails after `ms`). */
async function pollUntil(sale: string, s: Shopper, done: (b: any) => boolean, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    const b = await poll(sale, s);
    if (done(b)) return b;
    if (Date.now() > end) throw new Error(`not reached in ${ms} ms: ${JSON.stringify(b).slice(0, 200)}`);
    await sleep(200);
  }
}

const claimWith = (sale: string, s: Shopper) => api.claim(sale, s.token, { pass: s.answer.pass, key: idemKey() });
const inLine = (x: Shopper, y: Shopper) => x.place.bucket - y.place.bucket || x.place.key - y.place.key;

describe("a turn carries a unit", () => {
  it("with shoppers polling at very different rates, units go in line order", async () => {
    const sale = await createSale({ stock_total: 4, admission_rate: 1000, admit_per_unit: 1 });
    // Ten shoppers join 120 ms apart (one arrival bucket each): their order in line is their order here.
    const line: Shopper[] = [];
    for (let i = 0; i < 10; i++) {
      line.push(await join(sale));
      advanceClock(120); // the next arrival bucket (100 ms on the one clock)
    }
    expect([...line].sort(inLine)).toEqual(line);
    // Odd places poll every 200 ms (a bot's pace, under the per-session limit), even ones every 2 s (a page told to wait).
    const held = new Map<number, string>();
    const end = Date.now() + 9000;
    await Promise.all(
      line.map(async (s, i) => {
        const every = i % 2 ? 200 : 2000;
        while (Date.now() < end && held.size < 4) {
          const b = await poll(sale, s);
          if (b.state === "admitted") {
            const r = await claimWith(sale, s);
            expect(r.status).toBe(201);
            held.set(i, r.body.hold.id);
            return;
          }
          await sleep(every);
        }
      }),
    );
    // The first four places hold the four units, the slow pollers among them too.
    expect([...held.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const s of line.slice(4)) expect((await poll(sale, s)).state).toBe("waiting");
    expect((await roomStats(sale)).admitted).toBe(4);
  });

  it("an admitted shopper is told until when their unit is kept; admitted_at is never after the hold it led to", async () => {
    // The default pass_ttl_s (120 s): admission marks are 1.2 s wide.
    const sale = await createSale({ stock_total: 8, pass_ttl_s: 120, admit_per_unit: 1 });
    const shoppers = await Promise.all(Array.from({ length: 8 }, () => join(sale)));
    await Promise.all(
      shoppers.map(async (s) => {
        const b = await pollUntil(sale, s, (b) => b.state === "admitted");
        expect(b.unit_kept_until).toBe(b.pass_expires_at);
        const r = await claimWith(sale, s);
        expect(r.status).toBe(201);
        expect(Date.parse(b.admitted_at)).toBeLessThanOrEqual(Date.parse(r.body.hold.created_at));
      }),
    );
  });

  it("an expired pass hands its unit to the next shopper, and so does a hold that ends unpaid", async () => {
    const sale = await createSale({ stock_total: 1, pass_ttl_s: 5, admit_per_unit: 1 });
    const a = await join(sale);
    advanceClock(120); // the next arrival bucket (100 ms on the one clock)
    const b = await join(sale);
    advanceClock(120); // the next arrival bucket (100 ms on the one clock)
    const c = await join(sale);
    await pollUntil(sale, a, (x) => x.state === "admitted");
    // A walks away: B waits while A's unit is kept…
    expect((await poll(sale, b)).state).toBe("waiting");
    // …and is admitted once A's pass has ended.
    await pollUntil(sale, b, (x) => x.state === "admitted", 10_000);
    expect((await poll(sale, a)).state).toBe("expired");
    expect((await claimWith(sale, a)).body.error).toBe("pass_required");
    const held = await claimWith(sale, b);
    expect(held.status).toBe(201);
    expect((await poll(sale, c)).state).toBe("waiting");
    // B's card is declined: the unit goes to C at once, while B's pass still lasts, and B's pass
    // makes no second hold (B queues again, at the back).
    expect((await api.pay(held.body.hold.id, b.token, "tok_decline")).status).toBe(402);
    expect((await claimWith(sale, b)).body.error).toBe("pass_required");
    const cIn = await pollUntil(sale, c, (x) => x.state === "admitted", 3000);
    expect(Date.parse(cIn.admitted_at)).toBeLessThan(Date.parse(b.answer.pass_expires_at));
    expect((await claimWith(sale, c)).status).toBe(201);
  });

  it("nobody is admitted to a sold-out sale; those waiting are told sold_out once no unit can come back, and admitted again when units do", async () => {
    const sale = await createSale({ stock_total: 2, admit_per_unit: 1 });
    const first = [await join(sale), await join(sale)];
    advanceClock(120); // the next arrival bucket (100 ms on the one clock)
    const later = [await join(sale), await join(sale), await join(sale)];
    for (const s of first) {
      await pollUntil(sale, s, (x) => x.state === "admitted");
      const r = await claimWith(sale, s);
      expect(r.status).toBe(201);
      // Held units may come back: those behind keep waiting.
      expect((await poll(sale, later[0]!)).state).toBe("waiting");
      expect((await api.pay(r.body.hold.id, s.token, "tok_ok")).status).toBe(200);
    }
    // Sold, no hold open: everyone still in line hears it, and a newcomer too.
    for (const s of later) await pollUntil(sale, s, (x) => x.state === "sold_out");
    const newcomer = await join(sale);
    const told = await pollUntil(sale, newcomer, (x) => x.state === "sold_out");
    expect(told).toMatchObject({ position: null, refresh_s: 30 });
    expect(told.pass).toBeUndefined();
    expect((await roomStats(sale)).admitted).toBe(2);

    // A restock of one: the first in line is admitted, the rest wait again. (Which of the three is
    // first is the line's draw: they joined within one 100 ms bucket, ordered by their keys.)
    expect((await ops.restock(sale, 1)).status).toBe(200);
    const end = Date.now() + 8000;
    let firstIn: Shopper | undefined;
    while (!firstIn) {
      if (Date.now() > end) throw new Error("nobody was admitted after the restock");
      for (const s of later) if ((await poll(sale, s)).state === "admitted") firstIn = s;
      if (!firstIn) await sleep(200);
    }
    for (const s of later) if (s !== firstIn) expect((await poll(sale, s)).state).toBe("waiting");
    expect((await claimWith(sale, firstIn)).status).toBe(201);
    expect((await roomStats(sale)).admitted).toBe(3);
  });

  it("the same on a sharded sale: the sum over shards", async () => {
    // Three seconds to claim: a hold given back waits for its shopper until their pass ends.
    const sale = await createSale({ stock_total: 4, shards: 2, admit_per_unit: 1, pass_ttl_s: 3 });
    const line: Shopper[] = [];
    for (let i = 0; i < 7; i++) {
      line.push(await join(sale));
      advanceClock(110); // the next arrival bucket (100 ms on the one clock)
    }
    const holds = [];
    for (const s of line.slice(0, 4)) {
      await pollUntil(sale, s, (x) => x.state === "admitted");
      const r = await claimWith(sale, s);
      expect(r.status).toBe(201);
      holds.push({ s, id: r.body.hold.id as string });
    }
    // Four units held over two shards: the rest wait (held units may come back), none admitted.
    for (const s of line.slice(4)) expect((await poll(sale, s)).state).toBe("waiting");
    // One hold given back (on whichever shard): once its shopper's pass has ended, the next place gets that unit.
    expect((await api.cancel(holds[0]!.id, holds[0]!.s.token)).status).toBe(200);
    await pollUntil(sale, line[4]!, (x) => x.state === "admitted");
    expect((await claimWith(sale, line[4]!)).status).toBe(201);
    for (const { s, id } of holds.slice(1)) expect((await api.pay(id, s.token, "tok_ok")).status).toBe(200);
    const last = (await api.holds(sale, line[4]!.token)).body.holds[0];
    expect((await api.pay(last.id, line[4]!.token, "tok_ok")).status).toBe(200);
    for (const s of line.slice(5)) await pollUntil(sale, s, (x) => x.state === "sold_out");
    // A restock of two (one per shard): both admitted again.
    expect((await ops.restock(sale, 2)).status).toBe(200);
    for (const s of line.slice(5)) {
      await pollUntil(sale, s, (x) => x.state === "admitted");
      expect((await claimWith(sale, s)).status).toBe(201);
    }
  });

  it("the room reads the product objects at most once per tick, however many claims", async () => {
    const sale = await createSale({ stock_total: 150, admission_rate: 60, admit_per_unit: 1 });
    const shoppers = await Promise.all(Array.from({ length: 150 }, () => join(sale)));
    const before = (await roomStats(sale)).served.stock_reads;
    const claimsBefore = (await stats(sale)).served.claims;
    const t0 = Date.now();
    let claims = 0;
    await Promise.all(
      shoppers.map(async (s) => {
        await pollUntil(sale, s, (x) => x.state === "admitted", 15_000);
        expect((await claimWith(sale, s)).status).toBe(201);
        claims++;
      }),
    );
    const seconds = (Date.now() - t0) / 1000;
    const reads = (await roomStats(sale)).served.stock_reads - before;
    expect(claims).toBe(150);
    expect((await stats(sale)).served.claims - claimsBefore).toBe(150);
    console.log(`${claims} claims in ${seconds.toFixed(1)} s: ${reads} stock reads by the room`);
    // At most one per 250 ms tick (plus the first), whatever the claims: here far fewer than them.
    expect(reads).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 2);
    expect(reads).toBeLessThan(claims / 2);
  });
});

describe("the lottery window", () => {
  it("arrivals in the first lottery_s seconds after the opening join the pre-queue's draw; later ones are first come, first served", async () => {
    const opens = now() - 200;
    const sale = await createSale({ starts_at: new Date(opens).toISOString(), lottery_s: 2, stock_total: 10, admit_per_unit: 1 });
    const early = await join(sale);
    expect(early.place.bucket).toBe(0);
    expect(early.answer).toMatchObject({ state: "waiting", position: null, draw_at: new Date(opens + 2000).toISOString() });
    expect((await room(env, sale).watermark()).draw_at).toBe(opens + 2000);
    advanceClockTo(opens + 2100); // past the lottery window, on the one clock
    const late = await join(sale);
    expect(late.place.bucket).toBeGreaterThan(20);
    expect(late.answer.draw_at).toBeNull();
    // The draw comes first: the pre-queue place is admitted before the later arrival.
    await pollUntil(sale, early, (x) => x.state === "admitted");
    expect((await pollUntil(sale, late, (x) => x.state === "admitted")).admitted_at >= early.answer.admitted_at).toBe(true);
    expect((await api.sale(sale)).body.sale.lottery_s).toBe(2);
  });

  it("with lottery_s 0 the draw is at the opening: later arrivals are first come, first served", async () => {
    const sale = await createSale({ starts_at: soon(-100), lottery_s: 0 });
    expect((await join(sale)).place.bucket).toBeGreaterThan(0);
  });
});
