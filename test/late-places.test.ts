import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Place } from "../domain/line";
import { room } from "../domain/objects";
import type { Watermark } from "../domain/schemas/room";
import { signToken } from "../src/lib/tokens";
import { advanceClock, now } from "./support/clock";
import { EDGE_CACHE_MS, roomStats } from "./support/edge";
import { createSale } from "./support/sales";
import { session } from "./support/shoppers";
import { api, ops, sleep } from "./support/worker";

/**
 * Issue 19, late places on the real room: a place reported after the watermark passed it (a
 * report slower than LINE_SLACK_MS) waits for a unit like everyone else, first among those
 * waiting, instead of being admitted at once outside the unit count. A late report is provoked
 * as an isolate would send it: the room's `report`, with a place under the watermark; the
 * shopper holds a ticket for that place, signed as the edge signs them.
 */
type Shopper = { token: string; ticket: string; place: Place };

async function join(sale: string): Promise<Shopper> {
  const s = await session();
  const r = await api.join(sale, s.token);
  expect(r.status).toBe(201);
  return { token: s.token, ticket: r.body.ticket, place: { b: r.body.place.bucket, k: r.body.place.key } };
}

/** A shopper whose place the edge handed out but whose report reaches the room late (`report`, below). */
async function lateShopper(sale: string, place: Place): Promise<Shopper> {
  const s = await session();
  const { token } = await signToken(env, "ticket", { sub: s.user, sale, b: place.b, k: place.k });
  return { token: s.token, ticket: token, place };
}

/** The edge's answer, from a watermark it has just read (its cache of the old one has run out). */
async function poll(sale: string, s: Shopper) {
  advanceClock(EDGE_CACHE_MS + 1);
  const r = await api.poll(sale, s.token, s.ticket);
  expect(r.status).toBe(200);
  s.ticket = r.body.ticket;
  return r.body;
}

/**
 * Lets the room tick (the clock 50 ms on each time, real time for its stock reading to come
 * back) until `done` holds; after every tick, more turns may never be out than units.
 */
async function until(sale: string, stock: () => number, done: (w: Watermark) => boolean, ms = 8000): Promise<Watermark> {
  const end = Date.now() + ms;
  for (;;) {
    const w = await room(env, sale).watermark();
    const s = await roomStats(sale);
    expect(s.active).toBeLessThanOrEqual(stock());
    expect(s.claimable.outstanding).toBeLessThanOrEqual(s.claimable.available);
    if (done(w)) return w;
    if (Date.now() > end) throw new Error(`not reached in ${ms} ms: ${JSON.stringify({ ...w, salt: "", marks: [] }).slice(0, 300)}`);
    advanceClock(50);
    await sleep(10);
  }
}

/**
 * A unit for whoever still waits, so the room stops ticking: files share a runtime here, and a
 * room left ticking every 250 ms loads the files that run after this one.
 */
async function nobodyWaits(sale: string, stockAfter: number) {
  expect((await ops.restock(sale, 1)).status).toBe(200);
  await until(
    sale,
    () => stockAfter,
    (w) => w.admitted === w.queued,
  );
}

const isHeld = (w: Watermark, p: Place) => w.late?.held.some((h) => h.k === p.k) ?? false;
const admittedLate = (w: Watermark, p: Place) => w.late?.admitted.find((h) => h.k === p.k);

describe("late places wait for a unit", () => {
  it("a place reported late while no unit is left waits, and is the first admitted when a unit comes back (a pass ends unused), admitted then", async () => {
    const stock = 1;
    const sale = await createSale({ stock_total: stock, admit_per_unit: 1, pass_ttl_s: 5, admission_rate: 1000 });
    const a = await join(sale);
    advanceClock(120); // the next arrival bucket
    const b = await join(sale);
    // a's turn carries the only unit; b waits behind it.
    const w0 = await until(
      sale,
      () => stock,
      (w) => w.admitted === 1,
    );
    expect(w0.upto).toEqual(a.place);
    // A place ahead of a's (so under the watermark), reported only now.
    const lp = { b: a.place.b, k: a.place.k - 1 };
    const late = await lateShopper(sale, lp);
    const w1 = await room(env, sale).report([lp]);
    expect(isHeld(w1, lp)).toBe(true);
    expect(w1.admitted).toBe(1);
    expect(w1.queued).toBe(3);
    const s1 = await roomStats(sale);
    expect(s1.served.late).toBe(1);
    expect(s1.served.late_held).toBe(1);
    expect(s1.active).toBeLessThanOrEqual(stock);
    // The edge tells it to wait (first among those waiting), with no pass; b waits too.
    expect(await poll(sale, late)).toMatchObject({ state: "waiting", position: 1 });
    expect((await poll(sale, late)).pass).toBeUndefined();
    expect((await poll(sale, b)).state).toBe("waiting");
    // a's pass ends unused: its unit comes back, and goes to the late place, not to b.
    advanceClock(5000);
    const back = now();
    const w2 = await until(
      sale,
      () => stock,
      (w) => admittedLate(w, lp) !== undefined,
    );
    expect(w2.upto).toEqual(a.place);
    const at = admittedLate(w2, lp)!.at;
    // Its admission time is when it was admitted, not the watermark's mark of long ago.
    expect(at).toBeGreaterThanOrEqual(back);
    expect(at).toBeGreaterThan(w0.marks.at(-1)!.t);
    const answer = await poll(sale, late);
    expect(answer).toMatchObject({ state: "admitted", admitted_at: new Date(at).toISOString() });
    expect(answer.pass).toBeTypeOf("string");
    expect((await poll(sale, b)).state).toBe("waiting");
    expect((await roomStats(sale)).served.late_held).toBe(0);
    await nobodyWaits(sale, stock + 1);
  });

  it("with units left, late places are admitted at the next tick in report order, within the unit count; a repeat or a re-join adds nobody; a restock admits the held one before the line", async () => {
    let stock = 3;
    const sale = await createSale({ stock_total: stock, admit_per_unit: 1, pass_ttl_s: 60, admission_rate: 1000 });
    const x = await join(sale);
    advanceClock(120);
    await join(sale);
    await until(
      sale,
      () => stock,
      (w) => w.admitted === 2,
    );
    // Two late places, one unit left: the first reported is admitted, the second waits.
    const l1 = { b: x.place.b, k: x.place.k - 1 };
    const l2 = { b: x.place.b, k: x.place.k - 2 };
    await room(env, sale).report([l1, l2]);
    const w1 = await until(
      sale,
      () => stock,
      (w) => admittedLate(w, l1) !== undefined,
    );
    expect(w1.late?.held).toEqual([l2]);
    expect(w1.admitted).toBe(3);
    expect((await roomStats(sale)).served).toMatchObject({ late: 2, late_held: 1 });
    // Reported again, and the second identity joining again (a later place, over or under the
    // watermark): one entry each, nobody added to the line.
    const w2 = await room(env, sale).report([l2, l1, { b: l2.b + 1, k: l2.k }, { b: l2.b + 50, k: l2.k }]);
    expect(w2.queued).toBe(w1.queued);
    expect(w2.late?.held).toEqual([l2]);
    expect(w2.late?.admitted.map((e) => e.k)).toEqual([l1.k]);
    expect((await roomStats(sale)).served).toMatchObject({ late: 2, late_held: 1 });
    // Someone joins behind: no unit for them either.
    advanceClock(120);
    const z = await join(sale);
    await until(
      sale,
      () => stock,
      (w) => w.sealed >= z.place.b,
    );
    expect((await poll(sale, z)).state).toBe("waiting");
    // A restock of one: the held late place is admitted, the line still waits.
    expect((await ops.restock(sale, 1)).status).toBe(200);
    stock = 4;
    const w3 = await until(
      sale,
      () => stock,
      (w) => admittedLate(w, l2) !== undefined,
    );
    expect(w3.admitted).toBe(4);
    expect(w3.upto).not.toEqual(z.place);
    expect((await poll(sale, z)).state).toBe("waiting");
    expect((await roomStats(sale)).served.late_held).toBe(0);
    await nobodyWaits(sale, stock + 1);
  });
});
