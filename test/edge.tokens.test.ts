import { describe, expect, it } from "vitest";
import { challenge, claimWith, expectRefused, poll } from "./support/edge";
import { createSale } from "./support/sales";
import { enqueue, passFor, session } from "./support/shoppers";
import { forge, OTHER_SECRET, tamper, unsigned } from "./support/tokens";
import { call, stats } from "./support/worker";

/**
 * Invariant 8: tickets, passes and challenges are signed, bound to one shopper and one sale,
 * short-lived, of one kind each, and a solved challenge is spent once. Every forgery or transfer
 * is a 403 with a clear error, and none of them reaches the product object.
 */
describe("tokens can't be forged or moved", () => {
  it("tickets: forged, expired, tampered, unsigned, of another kind, another shopper's or another sale's are refused", async () => {
    const [sale, other] = await Promise.all([createSale(), createSale()]);
    const [a, b] = await Promise.all([session(), session()]);
    const q = await enqueue(sale, a.token);
    expect(q.status).toBe(201);
    const ticket = q.body.ticket as string;
    expect((await poll(sale, a.token, ticket)).status).toBe(200);

    const claims = { sub: a.user, sale, seq: 1, pos: 1 };
    const bad: Record<string, string> = {
      "signed with another secret": await forge("ticket", claims, { secret: OTHER_SECRET }),
      expired: await forge("ticket", claims, { expIn: -10 }),
      "tampered (another sale)": tamper(ticket, (p) => (p.sale = other)),
      unsigned: unsigned(ticket),
      "a pass as a ticket": q.body.pass,
      "a session as a ticket": a.token,
      garbage: "not.a.jwt",
    };
    for (const [what, t] of Object.entries(bad)) {
      const res = await poll(sale, a.token, t);
      expectRefused(res, 403, "forbidden");
      expect(res.body.message, what).toContain("X-Ticket");
    }
    expectRefused(await call("GET", `/api/sales/${sale}/queue`, { token: a.token }), 403, "forbidden");
    // A's genuine ticket is neither B's nor good for another sale.
    expectRefused(await poll(sale, b.token, ticket), 403, "forbidden");
    expectRefused(await poll(other, a.token, ticket), 403, "forbidden");
    // A correctly signed ticket for the wrong sale is refused too (binding, not just signature).
    expectRefused(await poll(sale, a.token, await forge("ticket", { ...claims, sale: other })), 403, "forbidden");
  });

  it("passes: none, forged, expired, tampered, unsigned, a ticket, another shopper's or another sale's ⇒ 403 pass_required, nothing reaches the object", async () => {
    const [sale, other] = await Promise.all([createSale(), createSale()]);
    const [a, b] = await Promise.all([session(), session()]);
    const [passA, passB, passOther] = await Promise.all([passFor(sale, a.token), passFor(sale, b.token), passFor(other, a.token)]);
    const q = await enqueue(sale, a.token);
    const bad: Record<string, string | undefined> = {
      none: undefined,
      "another shopper's": passB,
      "another sale's": passOther,
      "signed with another secret": await forge("pass", { sub: a.user, sale }, { secret: OTHER_SECRET }),
      expired: await forge("pass", { sub: a.user, sale }, { expIn: -10 }),
      "tampered (sub)": tamper(passB, (p) => (p.sub = a.user)),
      unsigned: unsigned(passA),
      "a ticket as a pass": q.body.ticket,
      "a challenge as a pass": (await challenge(sale, a.token)).body.challenge,
    };
    for (const [what, p] of Object.entries(bad)) {
      const res = await claimWith(sale, a.token, p);
      expect(res.body.error, what).toBe("pass_required");
      expectRefused(res, 403, "pass_required");
    }
    expect((await stats(sale)).served.claims).toBe(0);
    // The genuine pass works, for its owner.
    expect((await claimWith(sale, a.token, passA)).status).toBe(201);
    expect((await stats(sale)).served.claims).toBe(1);
  });
});
