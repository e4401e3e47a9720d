import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { peekSale } from "../src/edge/sale-info";
import { createSale, saleId } from "./support/sales";
import { admitted, claim, idemKey, passFor, session } from "./support/shoppers";
import { admin, call, stats } from "./support/worker";

/** Whether any object of either per-sale class exists for `sale`. */
async function objectsFor(sale: string) {
  const [inv, rooms] = await Promise.all([listDurableObjectIds(env.INVENTORY), listDurableObjectIds(env.ROOM)]);
  const want = [env.INVENTORY.idFromName(sale).toString(), env.ROOM.idFromName(sale).toString()];
  return [...inv, ...rooms].map((id) => id.toString()).filter((id) => want.includes(id));
}

/** Audit item 4: a request for a sale that does not exist writes nothing anywhere. */
describe("unknown sale ids", () => {
  it("every route, with every kind of token, answers 404 and creates no object for a well-formed unknown id", async () => {
    const real = await createSale();
    const s = await session();
    const ghost = saleId("ghost");
    const hold = `${ghost}_h${"0".repeat(20)}`;
    const order = `${ghost}_o${"0".repeat(20)}`;
    const key = { "idempotency-key": idemKey() };
    const answers = [
      await call("GET", `/api/sales/${ghost}`),
      await call("POST", `/api/sales/${ghost}/challenge`, { token: s.token }),
      await call("POST", `/api/sales/${ghost}/claim`, { token: s.token, body: {}, headers: key }),
      await call("GET", `/api/sales/${ghost}/holds`, { token: s.token }),
      await call("GET", `/api/holds/${hold}`, { token: s.token }),
      await call("DELETE", `/api/holds/${hold}`, { token: s.token }),
      await call("POST", `/api/holds/${hold}/pay`, { token: s.token, body: { payment_method: "tok_ok" } }),
      await call("GET", `/api/orders/${order}`, { token: s.token }),
      await admin("GET", `/sales/${ghost}`),
      await admin("PATCH", `/sales/${ghost}`, { admission_rate: 5 }),
      await admin("POST", `/sales/${ghost}/pause`),
      await admin("POST", `/sales/${ghost}/restock`, { qty: 1 }),
      await admin("POST", `/sales/${ghost}/reconcile`),
    ];
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(404);
    // Refusals the edge counts per sale (a bad User-Agent, a rate limit) are not handed to a room.
    const bot = await call("POST", `/api/sales/${ghost}/challenge`, { token: s.token, headers: { "user-agent": "curl/8.0" } });
    expect(bot.status).toBe(403);
    await Promise.all(Array.from({ length: 70 }, () => call("GET", `/api/sales/${ghost}/holds`, { token: s.token })));
    expect(await objectsFor(ghost)).toEqual([]);
    // The real sale's objects exist, and the same requests reach them.
    expect((await call("GET", `/api/sales/${real}`)).status).toBe(200);
    expect((await objectsFor(real)).length).toBe(2);
  });

  it("junk ids cannot push a live sale's cached sold-out state out of the edge cache", async () => {
    const sale = await createSale({ stock_total: 1 });
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b); // b is admitted too (two per unit), and finds the unit taken
    expect((await claim(sale, a.token)).status).toBe(201);
    // The edge now caches "sold out" (for a minute here, so that a slow machine cannot let it lapse).
    const long = { EDGE_CACHE_MS: "60000" };
    const told = await call("POST", `/api/sales/${sale}/claim`, {
      token: b.token,
      body: {},
      env: long,
      headers: { "idempotency-key": idemKey(), "x-pass": await passFor(sale, b.token) },
    });
    expect(told.status).toBe(409);
    expect(peekSale(sale)?.sold_out).toBe(true);
    // 2,500 distinct junk ids: more than either cache holds.
    for (let i = 0; i < 25; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => call("GET", `/api/sales/junk-${i}-${j}-${Date.now().toString(36)}`)));
    }
    expect(peekSale(sale)?.sold_out).toBe(true);
    const served = (await stats(sale)).served.claims;
    const crowd = await call("POST", `/api/sales/${sale}/claim`, { token: b.token, body: {}, headers: { "idempotency-key": idemKey() } });
    expect(crowd.status).toBe(409);
    expect((await stats(sale)).served.claims).toBe(served); // answered by the fast path
  });
});
