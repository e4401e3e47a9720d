import { beforeAll, describe, expect, it } from "vitest";
import {
  A,
  B,
  C,
  c,
  type Case,
  cancelledA,
  claimAs,
  D,
  holdA,
  holdB,
  NOSALE,
  orderB,
  refusedWithoutWrite,
  type Res,
  setUpSales,
  u,
  zeros,
} from "./support/bad-input";
import { pay } from "./support/shoppers";
import { call } from "./support/worker";

beforeAll(setUpSales);

/**
 * Invariant 9 for what a shopper points at: unknown paths and methods, bad or unknown ids, sales
 * that are closed or not open yet, other shoppers' holds and orders. Each answer is a 4xx JSON
 * refusal and the objects, D1 and the gateway are unchanged.
 */
describe("shopper routes refuse bad or unknown ids without writing", () => {
  const cases: Case[] = [
    // routing
    c("unknown path", 404, "not_found", () => call("GET", "/nope")),
    c("unknown /api path", 404, "not_found", () => call("POST", "/api/whatever", { body: {} })),
    c("GET /api/sales without id", 404, "not_found", () => call("GET", "/api/sales")),
    c("wrong method on a sale", 404, "not_found", () => call("PUT", `/api/sales/${A}`, { body: {} })),
    c("GET /api/session", 404, "not_found", () => call("GET", "/api/session")),
    // GET /api/sales/:id
    c("sale id with capitals", 400, "invalid_request", () => call("GET", "/api/sales/Bad-Sale")),
    c("sale id of 64 chars", 400, "invalid_request", () => call("GET", `/api/sales/${"a".repeat(64)}`)),
    c("sale id starting with a dash", 400, "invalid_request", () => call("GET", "/api/sales/-x")),
    c("sale id with an encoded slash", 400, "invalid_request", () => call("GET", "/api/sales/a%2Fb")),
    c("sale id with broken %-encoding", 400, "invalid_request", () => call("GET", "/api/sales/%E0%A4%A")),
    c("unknown sale", 404, "not_found", () => call("GET", `/api/sales/${NOSALE}`)),
    // claim: sale
    c("claim on an unknown sale", 404, "not_found", () =>
      claimAs(
        () => u.carol.token,
        () => NOSALE,
        { body: {} },
      ),
    ),
    c("claim on a malformed sale id", 400, "invalid_request", () =>
      claimAs(
        () => u.carol.token,
        () => "NOPE_1",
        { body: {} },
      ),
    ),
    c("claim on a closed sale", 410, "sale_closed", () =>
      claimAs(
        () => u.carol.token,
        () => C,
        { body: {} },
      ),
    ),
    c("claim before the start", 425, "not_open", () =>
      claimAs(
        () => u.carol.token,
        () => D,
        { body: {} },
      ),
    ),
    // holds: ids
    ...(["GET", "DELETE"] as const).flatMap((m) => [
      c(`${m} hold: unknown id in a real sale`, 404, "not_found", () => call(m, `/api/holds/${A}_h${zeros}`, { token: u.alice.token })),
      c(`${m} hold: id in an unknown sale`, 404, "not_found", () => call(m, `/api/holds/${NOSALE}_h${zeros}`, { token: u.alice.token })),
      c(`${m} hold: an order id`, 404, "not_found", () => call(m, `/api/holds/${orderB}`, { token: u.alice.token })),
      c(`${m} hold: not an id`, 404, "not_found", () => call(m, "/api/holds/xyz", { token: u.alice.token })),
      c(`${m} hold: capitalised id`, 404, "not_found", () => call(m, `/api/holds/${holdA.toUpperCase()}`, { token: u.alice.token })),
      c(`${m} hold: id over 100 chars`, 400, "invalid_request", () =>
        call(m, `/api/holds/${"a".repeat(60)}_h${"0".repeat(41)}`, { token: u.alice.token }),
      ),
      c(`${m} hold: broken %-encoding`, 404, "not_found", () => call(m, "/api/holds/%E0%A4%A", { token: u.alice.token })),
      c(`${m} hold: another shopper's`, 404, "not_found", () => call(m, `/api/holds/${holdA}`, { token: u.bob.token })),
    ]),
    c("DELETE a paid hold", 409, "conflict", () => call("DELETE", `/api/holds/${holdB}`, { token: u.alice.token })),
    // pay: ids and states
    c("pay an unknown hold", 404, "not_found", () => pay(`${A}_h${zeros}`, u.alice.token)),
    c("pay an order id", 404, "not_found", () => pay(orderB, u.alice.token)),
    c("pay another shopper's hold", 404, "not_found", () => pay(holdA, u.bob.token)),
    c("pay a cancelled hold", 410, "hold_ended", () => pay(cancelledA, u.dave.token)),
    // orders
    c("order: unknown id in a real sale", 404, "not_found", () => call("GET", `/api/orders/${B}_o${zeros}`, { token: u.alice.token })),
    c("order: a hold id", 404, "not_found", () => call("GET", `/api/orders/${holdB}`, { token: u.alice.token })),
    c("order: an unconfirmed hold's order id", 404, "not_found", () =>
      call("GET", `/api/orders/${holdA.replace("_h", "_o")}`, { token: u.alice.token }),
    ),
    c("order: not an id", 404, "not_found", () => call("GET", "/api/orders/xyz", { token: u.alice.token })),
    c("order: id over 100 chars", 400, "invalid_request", () =>
      call("GET", `/api/orders/${"a".repeat(60)}_o${"0".repeat(41)}`, { token: u.alice.token }),
    ),
    c("order: another shopper's", 404, "not_found", () => call("GET", `/api/orders/${orderB}`, { token: u.bob.token })),
    c("wrong method on an order", 404, "not_found", () => call("DELETE", `/api/orders/${orderB}`, { token: u.alice.token })),
  ];
  it.each(cases)("$name → $status $error", async ({ go, status, error }) => {
    await refusedWithoutWrite(go, status, error);
  });

  it("another shopper's hold or order answers exactly like one that does not exist", async () => {
    const pairs: [Res, Res][] = [
      [
        await call("GET", `/api/holds/${holdA}`, { token: u.bob.token }),
        await call("GET", `/api/holds/${A}_h${zeros}`, { token: u.bob.token }),
      ],
      [
        await call("DELETE", `/api/holds/${holdA}`, { token: u.bob.token }),
        await call("DELETE", `/api/holds/${A}_h${zeros}`, { token: u.bob.token }),
      ],
      [await pay(holdA, u.bob.token), await pay(`${A}_h${zeros}`, u.bob.token)],
      [
        await call("GET", `/api/orders/${orderB}`, { token: u.bob.token }),
        await call("GET", `/api/orders/${B}_o${zeros}`, { token: u.bob.token }),
      ],
    ];
    for (const [theirs, none] of pairs) {
      expect(theirs.status).toBe(404);
      expect(theirs.body).toEqual(none.body);
      expect(JSON.stringify(theirs.body)).not.toContain(u.alice.user);
    }
    // And alice's hold is still hers, untouched.
    const mine = await call("GET", `/api/holds/${holdA}`, { token: u.alice.token });
    expect(mine.body.hold.status).toBe("held");
  });
});
