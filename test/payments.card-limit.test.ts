import { describe, expect, it } from "vitest";
import { CARD_LIMIT_REASON } from "../domain/schemas/hold";
import { createSale, expectStockInvariant } from "./support/sales";
import { heldBy, pay, session } from "./support/shoppers";
import { call, d1Orders, d1Refunds, ledger, stats, until } from "./support/worker";

/**
 * One unit per card (issue 10, item 3), with the simulated gateway's cards: a test card is the
 * shopper's own unless a suffix names a physical card (tok_ok.card-7); tok_ok.late-card-7 is the
 * same card named only with the charge (durable-objects/payments/test-cards.ts).
 */
const chargesFor = async (holdId: string) => (await ledger()).filter((e) => e.reference === holdId);
const getHold = async (holdId: string, token: string) => (await call("GET", `/api/holds/${holdId}`, { token })).body.hold;
const settled = (sale: string) =>
  until(sale, async () => {
    const s = await stats(sale);
    return s.holds.pending === 0 && s.refunds.pending === 0 && s.outbox.backlog === 0;
  });

describe("one unit per card per sale", () => {
  it("a second use of one card is refused with 409 before any charge; the hold stays the shopper's, another card pays", async () => {
    const sale = await createSale({ stock_total: 5 });
    const alice = await session();
    const bob = await session();
    const a = await heldBy(sale, alice.token);
    const b = await heldBy(sale, bob.token);

    expect((await pay(a.id, alice.token, "tok_ok.card-7")).status).toBe(200);
    const refused = await pay(b.id, bob.token, "tok_ok.card-7");
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: "card_limit_reached", per_user_limit: 1 });
    expect(refused.body.hold).toBeUndefined();
    expect(await chargesFor(b.id)).toHaveLength(0); // no money moved
    expect((await getHold(b.id, bob.token)).status).toBe("held");

    // Bob's own card (a plain test card is the shopper's own) goes through.
    const paid = await pay(b.id, bob.token, "tok_ok");
    expect(paid.status).toBe(200);
    await settled(sale);
    expect(await d1Orders(sale)).toHaveLength(2);
    await expectStockInvariant(sale, expect);
  });

  it("plain test cards of different shoppers are different cards", async () => {
    const sale = await createSale({ stock_total: 5 });
    const shoppers = await Promise.all([session(), session(), session()]);
    for (const s of shoppers) expect((await pay((await heldBy(sale, s.token)).id, s.token, "tok_ok")).status).toBe(200);
  });

  it("two pays with one card racing: exactly one is charged, the other refused before a charge", async () => {
    const sale = await createSale({ stock_total: 20 });
    const shoppers = await Promise.all(Array.from({ length: 8 }, () => session()));
    const holds = await Promise.all(shoppers.map((s) => heldBy(sale, s.token)));
    const answers = await Promise.all(holds.map((h, i) => pay(h.id, shoppers[i]!.token, "tok_ok.card-race")));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409 && r.body.error === "card_limit_reached")).toHaveLength(7);
    const charged = (await ledger()).filter((c) => holds.some((h) => h.id === c.reference));
    expect(charged).toHaveLength(1);
  });

  it("a card's limit counts units: with per_user_limit 2, one card pays for two holds and not a third", async () => {
    const sale = await createSale({ stock_total: 5, per_user_limit: 2 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    expect((await pay((await heldBy(sale, a.token)).id, a.token, "tok_ok.card-2")).status).toBe(200);
    expect((await pay((await heldBy(sale, b.token)).id, b.token, "tok_ok.card-2")).status).toBe(200);
    const third = await pay((await heldBy(sale, c.token)).id, c.token, "tok_ok.card-2");
    expect(third.status).toBe(409);
    expect(third.body.per_user_limit).toBe(2);
  });

  it("a declined use does not count against the card", async () => {
    const sale = await createSale({ stock_total: 5 });
    const [a, b] = await Promise.all([session(), session()]);
    expect((await pay((await heldBy(sale, a.token)).id, a.token, "tok_decline.card-d")).status).toBe(402);
    expect((await pay((await heldBy(sale, b.token)).id, b.token, "tok_ok.card-d")).status).toBe(200);
  });

  it("a duplicate learned only with the charge: 409, the hold ends declined, the charge is refunded and recorded in D1", async () => {
    const sale = await createSale({ stock_total: 5 });
    const alice = await session();
    const bob = await session();
    const a = await heldBy(sale, alice.token);
    const b = await heldBy(sale, bob.token);
    expect((await pay(a.id, alice.token, "tok_ok.card-5")).status).toBe(200);

    const late = await pay(b.id, bob.token, "tok_ok.late-card-5");
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: "card_limit_reached", per_user_limit: 1 });
    expect(late.body.hold).toMatchObject({ id: b.id, status: "declined", reason: CARD_LIMIT_REASON, order_id: null });

    await settled(sale);
    expect(await getHold(b.id, bob.token)).toMatchObject({ status: "declined", refund: { status: "refunded", amount: 49_900 } });
    const [charge, ...more] = await chargesFor(b.id);
    expect(more).toHaveLength(0);
    expect(charge).toMatchObject({ status: "succeeded", refund_id: expect.stringMatching(/^re_/) });
    const refunds = await d1Refunds(sale);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ hold_id: b.id, charge_id: charge!.charge_id });
    expect((await d1Orders(sale)).map((o) => o.hold_id)).toEqual([a.id]);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 1, held: 0, available: 4 });
  });

  it("two late-learned uses of one card racing: one order, one refund", async () => {
    const sale = await createSale({ stock_total: 5 });
    const [a, b] = await Promise.all([session(), session()]);
    const [ha, hb] = await Promise.all([heldBy(sale, a.token), heldBy(sale, b.token)]);
    const answers = await Promise.all([pay(ha.id, a.token, "tok_ok.late-card-6"), pay(hb.id, b.token, "tok_ok.late-card-6")]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    await settled(sale);
    expect(await d1Orders(sale)).toHaveLength(1);
    expect(await d1Refunds(sale)).toHaveLength(1);
    const charges = (await ledger()).filter((c) => c.reference === ha.id || c.reference === hb.id);
    expect(charges).toHaveLength(2);
    expect(charges.filter((c) => c.refund_id !== null)).toHaveLength(1);
  });
});
