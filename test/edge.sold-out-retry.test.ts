import { abortAllDurableObjects } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { forgetEverything } from "../src/lib/isolate-state";
import { advanceClock } from "./support/clock";
import { counters, expectRefused } from "./support/edge";
import { createSale } from "./support/sales";
import { admitted, claim, idemKey, passFor, session } from "./support/shoppers";
import { forge } from "./support/tokens";
import { call, stats } from "./support/worker";

const claimWith = (sale: string, token: string, key: string, pass?: string) =>
  call("POST", `/api/sales/${sale}/claim`, { token, body: {}, headers: { "idempotency-key": key, ...(pass ? { "x-pass": pass } : {}) } });

/** The object's count of claims it served: what the fast path keeps still. */
const served = async (sale: string) => (await stats(sale)).served.claims;

/**
 * Audit item 5: "same key, same hold" also once the stock is 0. A shopper who got a hold and
 * retries (their answer was lost, the server crashed) gets that hold back, not 409; the crowd
 * without a valid pass is still answered on the fast path, without the object.
 */
describe("a retried claim after the sell-out gets its own hold", () => {
  it("stock 1: A gets K → 201; B → 409; A retries K → 200 with the same hold, also with a new key, also a second later", async () => {
    const sale = await createSale({ stock_total: 1 });
    const [a, b] = await Promise.all([session(), session()]);
    const [passA, passB] = await Promise.all([passFor(sale, a.token), passFor(sale, b.token)]);
    const K = idemKey();
    const first = await claimWith(sale, a.token, K, passA);
    expect(first.status).toBe(201);
    expectRefused(await claimWith(sale, b.token, idemKey(), passB), 409, "sold_out"); // the edge now knows
    for (const key of [K, K, idemKey()]) {
      const again = await claimWith(sale, a.token, key, passA);
      expect(again.status, key).toBe(200);
      expect(again.body.hold.id).toBe(first.body.hold.id);
    }
    advanceClock(1100); // past the edge cache: still the same answer
    expect((await claimWith(sale, a.token, K, passA)).body.hold.id).toBe(first.body.hold.id);
  });

  it("after a crash of the objects and the edge's caches, the retry still gets the hold", async () => {
    const sale = await createSale({ stock_total: 1 });
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b);
    const K = idemKey();
    const first = await claim(sale, a.token, K);
    expect(first.status).toBe(201);
    expect((await claim(sale, b.token)).status).toBe(409);
    forgetEverything();
    await abortAllDurableObjects();
    expect((await claim(sale, b.token)).status).toBe(409); // the edge hears "sold out" again
    const again = await claim(sale, a.token, K);
    expect(again.status).toBe(200);
    expect(again.body.hold.id).toBe(first.body.hold.id);
  });

  it("the crowd without a valid pass stays on the fast path: no pass, forged, expired, another sale's", async () => {
    const [sale, other] = await Promise.all([createSale({ stock_total: 1 }), createSale({ stock_total: 5 })]);
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b);
    expect((await claim(sale, a.token)).status).toBe(201);
    expect((await claim(sale, b.token)).status).toBe(409);
    const crowd = await Promise.all(Array.from({ length: 20 }, () => session()));
    const otherPass = await passFor(other, crowd[0]!.token);
    const passes = [
      undefined,
      await forge("pass", { sub: crowd[0]!.user, sale }, { secret: "not-the-server-secret-0123456789abcdef0123" }),
      await forge("pass", { sub: crowd[0]!.user, sale }, { expIn: -5 }),
      otherPass,
      "garbage",
    ];
    const before = { served: await served(sale), fast: (await counters(sale)).sold_out_fast_path };
    const answers = await Promise.all(crowd.flatMap((s) => passes.map((p) => claimWith(sale, s.token, idemKey(), p))));
    for (const r of answers) expectRefused(r, 409, "sold_out");
    expect(await served(sale)).toBe(before.served);
    expect((await counters(sale)).sold_out_fast_path).toBe(before.fast + answers.length);
  });

  it("a pass holder the object told 'sold out' is answered on the fast path from then on", async () => {
    const sale = await createSale({ stock_total: 1 });
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b);
    expect((await claim(sale, a.token)).status).toBe(201);
    expect((await claim(sale, b.token)).status).toBe(409); // b's claim reached the object once
    const before = await served(sale);
    const retries = await Promise.all(Array.from({ length: 30 }, () => claim(sale, b.token)));
    for (const r of retries) expectRefused(r, 409, "sold_out");
    expect(await served(sale)).toBe(before);
  });
});
