import { describe, expect, it } from "vitest";
import { challenge, claimWith, expectRefused, poll } from "./support/edge";
import { now } from "./support/clock";
import { createSale } from "./support/sales";
import { enqueue, passFor, session } from "./support/shoppers";
import { decode } from "hono/jwt";
import { STABLE_STEP_S } from "../src/lib/tokens";
import { TOKEN_TTL_S } from "../domain/schemas/tokens";
import { forge, nowS, OTHER_SECRET, tamper, unsigned } from "./support/tokens";
import { api, call, stats } from "./support/worker";
import { env } from "cloudflare:workers";
import { verifyToken } from "../src/lib/tokens";

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
  it("a poll hands back the ticket it was sent only if that is the one it would serve: never one signed with a key being rotated out, never another's", async () => {
    const sale = await createSale();
    const a = await session();
    const q = await enqueue(sale, a.token);
    const before = await poll(sale, a.token, q.body.ticket);
    expect(before.status).toBe(200);
    // The operator rotates the key: the sent ticket (old key) still verifies, but what comes back
    // is signed with the new one, so it outlives the rotation.
    const rotated = { TOKEN_SECRET: OTHER_SECRET, TOKEN_SECRET_PREVIOUS: env.TOKEN_SECRET };
    const during = await api.poll(sale, a.token, before.body.ticket, { env: rotated });
    expect(during.status).toBe(200);
    expect(during.body.ticket).not.toBe(before.body.ticket);
    expect(await verifyToken({ TOKEN_SECRET: OTHER_SECRET }, "ticket", during.body.ticket)).toMatchObject({ sale });
    expect(await verifyToken({ TOKEN_SECRET: OTHER_SECRET }, "ticket", before.body.ticket)).toBeNull();
    // Sent again under the new key, that one is handed back as it is.
    const after = await api.poll(sale, a.token, during.body.ticket, { env: rotated });
    if (decode(after.body.ticket).payload.exp === decode(during.body.ticket).payload.exp)
      expect(after.body.ticket).toBe(during.body.ticket);
    // Another shopper's ticket is refused, not re-served.
    const b = await session();
    expect((await poll(sale, b.token, before.body.ticket)).status).toBe(403);
  });

  it("a poll re-serves the ticket and pass it gave while the place and state stand, and gives a new ticket when the state changes", async () => {
    const sale = await createSale();
    const a = await session();
    const q = await enqueue(sale, a.token);
    expect(q.body.state).toBe("waiting");
    const claimsOf = (t: string) => decode(t).payload as { sub: string; sale: string; b: number; k: number; adm?: number; exp: number };
    // Waiting: two polls in the same minute step give the very same ticket (nothing re-signed).
    const [w1, w2] = [await poll(sale, a.token, q.body.ticket), await poll(sale, a.token, q.body.ticket)];
    expect(Math.abs(claimsOf(w1.body.ticket).exp - claimsOf(w2.body.ticket).exp)).toBeLessThanOrEqual(STABLE_STEP_S);
    if (claimsOf(w1.body.ticket).exp === claimsOf(w2.body.ticket).exp) expect(w2.body.ticket).toBe(w1.body.ticket);
    // Admitted: a new state, so a new ticket (it carries the admission time) and a pass.
    let admitted = w2;
    for (let i = 0; admitted.body.state !== "admitted" && i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      admitted = await poll(sale, a.token, admitted.body.ticket);
    }
    const t = admitted.body.ticket as string;
    expect(claimsOf(t).adm).toBeGreaterThan(0);
    expect(claimsOf(q.body.ticket).adm).toBeUndefined();
    const place = (x: string) => (({ sub, sale, b, k }) => ({ sub, sale, b, k }))(claimsOf(x));
    expect(place(t)).toEqual(place(q.body.ticket));
    // A second later (a freshly signed token would differ in its `iat`), the same tokens again.
    const s0 = nowS();
    while (nowS() === s0) await new Promise((r) => setTimeout(r, 20));
    const again = await poll(sale, a.token, t);
    expect(again.status).toBe(200);
    expect(again.body.state).toBe("admitted");
    // The pass ends when the time to claim does: the same token on every poll.
    expect(again.body.pass).toBe(admitted.body.pass);
    expect(again.body.pass_expires_at).toBe(admitted.body.pass_expires_at);
    if (claimsOf(again.body.ticket).exp === claimsOf(t).exp) expect(again.body.ticket).toBe(t);
    // A re-served ticket never has less than its lifetime less one step to live.
    for (const r of [w1, w2, again]) {
      expect(claimsOf(r.body.ticket).exp % STABLE_STEP_S).toBe(0);
      const left = Date.parse(r.body.ticket_expires_at) - now();
      expect(left).toBeGreaterThan((TOKEN_TTL_S.ticket - STABLE_STEP_S - 5) * 1000);
      expect(left).toBeLessThanOrEqual(TOKEN_TTL_S.ticket * 1000);
      expect(claimsOf(r.body.ticket).exp * 1000).toBe(Date.parse(r.body.ticket_expires_at));
    }
  });
});
