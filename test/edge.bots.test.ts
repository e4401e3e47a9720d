import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { challenge, claimWith, counters, expectRefused, roomStats, siteverifySeen, solved, submit } from "./support/edge";
import { createSale } from "./support/sales";
import { passFor, session } from "./support/shoppers";
import { admin, call, stats } from "./support/worker";

/**
 * The User-Agent heuristic refuses automation clients before any object is touched, and is
 * counted for the operator.
 */
describe("bot heuristics", () => {
  it("automation User-Agents (curl, python, headless, none) ⇒ 403 bot_suspected, counted; a browser passes", async () => {
    const sale = await createSale();
    const s = await session();
    const pass = await passFor(sale, s.token);
    const uas = [
      "curl/8.5.0",
      "python-requests/2.32.3",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36",
      "",
    ];
    for (const ua of uas) {
      expectRefused(
        await call("POST", `/api/sales/${sale}/challenge`, { token: s.token, headers: { "user-agent": ua } }),
        403,
        "bot_suspected",
      );
    }
    // On the claim too, before the pass is even looked at and before the object.
    expectRefused(await claimWith(sale, s.token, pass, { "user-agent": "Wget/1.21" }), 403, "bot_suspected");
    expect((await stats(sale)).served.claims).toBe(0);
    expect((await counters(sale)).rejected_heuristics).toBe(5);
    expect((await challenge(sale, s.token)).status).toBe(200);
    expect((await admin("GET", `/sales/${sale}`)).body.queue.counters.rejected_heuristics).toBe(5);
  });
});

/**
 * Turnstile, when a secret is configured: the widget's token is checked with siteverify (with
 * the client's IP and an idempotency key); a failed check is a 403, an unreachable or broken
 * siteverify is a 503 (fail closed: nobody gets in unchecked), and without a secret there is no
 * call at all.
 */
describe("Turnstile", () => {
  const TS = { TURNSTILE_SECRET: "turnstile-test-secret" } satisfies Partial<Env>;

  it("passes a good token, sends remoteip and idempotency_key; refuses fail/duplicate (403) and fails closed on slow/down/garbage (503)", async () => {
    const sale = await createSale();
    const ip = "198.51.100.23";
    const send = async (turnstile?: string) => {
      const s = await session();
      const ch = await solved(sale, s.token, { env: TS });
      const before = (await siteverifySeen()).length;
      const res = await submit(
        sale,
        s.token,
        { challenge: ch.challenge, solution: ch.solution, ...(turnstile ? { turnstile } : {}) },
        { env: TS, headers: { "cf-connecting-ip": ip } },
      );
      // By idempotency key: other test files share the fake siteverify.
      const sent = (await siteverifySeen()).slice(before).filter((e) => e.idempotency_key?.startsWith(`${ch.nonce}-`));
      return { res, sent, ch, s };
    };

    const good = await send("pass");
    expect(good.res.status).toBe(201);
    expect(good.res.body.state).toBe("waiting"); // a place in line; the room admits it once its bucket is in
    expect(good.sent).toEqual([
      expect.objectContaining({
        secret: TS.TURNSTILE_SECRET,
        response: "pass",
        remoteip: ip,
        idempotency_key: expect.stringMatching(new RegExp(`^${good.ch.nonce}-[0-9a-f]{16}$`)),
      }),
    ]);

    for (const token of ["fail", "duplicate"]) {
      const r = await send(token);
      expectRefused(r.res, 403, "turnstile_failed");
      expect(r.sent).toHaveLength(1);
    }
    for (const token of ["slow", "down", "garbage"]) {
      const r = await send(token);
      expectRefused(r.res, 503, "turnstile_unavailable");
      expect(r.res.headers.get("retry-after")).toBe("2");
      expect(r.sent).toEqual([expect.objectContaining({ response: token, remoteip: ip })]);
    }
    // No token at all: refused without asking siteverify.
    const missing = await send(undefined);
    expectRefused(missing.res, 403, "turnstile_failed");
    expect(missing.sent).toHaveLength(0);

    const q = await roomStats(sale);
    expect(q.in_line).toBe(1);
    expect(q.counters).toMatchObject({ queued: 1, rejected_turnstile: 6 });

    // A refused check does not spend the challenge: the same one with a good token gets in,
    // and siteverify sees the same idempotency key.
    const retry = await submit(
      sale,
      missing.s.token,
      { challenge: missing.ch.challenge, solution: missing.ch.solution, turnstile: "pass" },
      { env: TS },
    );
    expect(retry.status).toBe(201);
    expect((await siteverifySeen()).filter((e) => e.idempotency_key?.startsWith(`${missing.ch.nonce}-`))).toEqual([
      expect.objectContaining({ response: "pass" }),
    ]);
  });

  it("without a secret, no siteverify call is made", async () => {
    expect(env.TURNSTILE_SECRET).toBeFalsy();
    const sale = await createSale();
    const before = (await siteverifySeen()).length;
    const s = await session();
    const ch = await solved(sale, s.token);
    // "fail" would be refused if it were checked.
    const res = await submit(sale, s.token, { challenge: ch.challenge, solution: ch.solution, turnstile: "fail" });
    expect(res.status).toBe(201);
    expect(
      (await siteverifySeen()).slice(before).filter((e) => e.idempotency_key?.startsWith(`${ch.nonce}-`) || e.response === "fail"),
    ).toEqual([]);
  });
});
