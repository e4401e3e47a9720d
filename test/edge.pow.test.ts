import { describe, expect, it } from "vitest";
import { leadingZeroBits, powDigest, solve } from "../domain/pow.js";
import { challenge, counters, expectRefused, roomStats, solved, submit } from "./support/edge";
import { createSale } from "./support/sales";
import { enqueue, session } from "./support/shoppers";
import { forge, OTHER_SECRET, tamper, unsigned } from "./support/tokens";

/**
 * Invariant 8 for challenges: a proof-of-work challenge is signed, bound to one shopper and one
 * sale, and short-lived; a wrong solution is refused. A solved challenge buys one place: replaying
 * it gives the same identity the same key in line, which the room counts once.
 */
describe("challenges and proof of work", () => {
  it("challenges: forged, expired, tampered, another shopper's or another sale's ⇒ 403 pow_failed, counted; a replay buys no second place", async () => {
    const [sale, other] = await Promise.all([createSale({ pow_difficulty: 8 }), createSale({ pow_difficulty: 8 })]);
    const [a, b] = await Promise.all([session(), session()]);

    const mine = await solved(sale, a.token);
    const forged = async (over: Record<string, unknown>, opts?: { secret?: string; expIn?: number }) => {
      const nonce = crypto.randomUUID().replaceAll("-", "");
      const claims = { sub: a.user, sale, nonce, bits: 0, ...over };
      return { challenge: await forge("challenge", claims, opts), solution: await solve(String(claims.nonce), Number(claims.bits)) };
    };
    const bad: Record<string, { token: string; sale: string; body: { challenge: string; solution: string } }> = {
      "signed with another secret": { token: a.token, sale, body: await forged({}, { secret: OTHER_SECRET }) },
      expired: { token: a.token, sale, body: await forged({ bits: 8 }, { expIn: -10 }) },
      "tampered to 0 bits": { token: a.token, sale, body: { challenge: tamper(mine.challenge, (p) => (p.bits = 0)), solution: "0" } },
      unsigned: { token: a.token, sale, body: { challenge: unsigned(mine.challenge), solution: mine.solution } },
      "another shopper's": { token: b.token, sale, body: { challenge: mine.challenge, solution: mine.solution } },
      "another sale's": { token: a.token, sale: other, body: { challenge: mine.challenge, solution: mine.solution } },
      "a ticket as a challenge": { token: a.token, sale, body: { challenge: (await enqueue(sale, b.token)).body.ticket, solution: "0" } },
    };
    for (const [what, r] of Object.entries(bad)) {
      const res = await submit(r.sale, r.token, r.body);
      expect(res.body.error, what).toBe("pow_failed");
      expectRefused(res, 403, "pow_failed");
    }

    // Genuine: a place. Replayed, ten times (with or without the ticket): the same key in line,
    // so the room still counts one place for this shopper.
    const first = await submit(sale, a.token, { challenge: mine.challenge, solution: mine.solution });
    expect(first.status).toBe(201);
    for (let i = 0; i < 10; i++) {
      const replay = await submit(sale, a.token, { challenge: mine.challenge, solution: mine.solution });
      expect(replay.status).toBe(201);
      expect(replay.body.place.key).toBe(first.body.place.key);
    }
    // Known good to this isolate now (its SHA-256 is not redone), yet still a's, for this sale only.
    expectRefused(await submit(sale, b.token, { challenge: mine.challenge, solution: mine.solution }), 403, "pow_failed");
    expectRefused(await submit(other, a.token, { challenge: mine.challenge, solution: mine.solution }), 403, "pow_failed");

    // 7 refused at the edge for `sale`; 2 for `other`.
    expect((await counters(sale)).rejected_pow).toBe(7);
    expect((await counters(other)).rejected_pow).toBe(2);
    // One place each for a and b (b's came from enqueue above), however often a replayed.
    expect((await roomStats(sale)).in_line).toBe(2);
  });

  it("proof of work: a wrong solution at the sale's difficulty ⇒ 403 pow_failed; public/pow.js's solution passes", async () => {
    const sale = await createSale({ pow_difficulty: 12 });
    const a = await session();
    const ch = await challenge(sale, a.token);
    expect(ch.body.bits).toBe(12);
    let wrong = 0;
    while (leadingZeroBits(await powDigest(ch.body.nonce, `w${wrong}`)) >= 12) wrong++;
    expectRefused(await submit(sale, a.token, { challenge: ch.body.challenge, solution: `w${wrong}` }), 403, "pow_failed");
    // The refused attempt did not spend the challenge: the right answer still gets in.
    const solution = await solve(ch.body.nonce, ch.body.bits);
    expect(leadingZeroBits(await powDigest(ch.body.nonce, solution))).toBeGreaterThanOrEqual(12);
    const ok = await submit(sale, a.token, { challenge: ch.body.challenge, solution });
    expect(ok.status).toBe(201);
    // The good solution is remembered; the wrong one is still checked, and still wrong.
    expectRefused(await submit(sale, a.token, { challenge: ch.body.challenge, solution: `w${wrong}` }), 403, "pow_failed");
    expect((await submit(sale, a.token, { challenge: ch.body.challenge, solution })).status).toBe(201);
    expect((await counters(sale)).rejected_pow).toBe(2);
  });
});
