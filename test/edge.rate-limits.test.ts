import { describe, expect, it, vi } from "vitest";
import { alignToWindow, challenge, counters, expectRefused } from "./support/edge";
import { createSale } from "./support/sales";
import { session } from "./support/shoppers";
import { admin, call } from "./support/worker";

/**
 * The edge's brakes: the rate limits (per session 60 / 10 s, per IP 300 / 10 s) refuse before
 * any object is touched, say when to come back, and are counted for the operator.
 */
describe("rate limits", () => {
  it("rate limits: a session over 60 and an address over 300 in 10 s get 429 with Retry-After, counted", async () => {
    const [bySession, byIp] = await Promise.all([createSale(), createSale()]);
    const hammer = await session();
    const ip = "203.0.113.77";
    await alignToWindow();
    // The same session from many addresses; and many sessions' worth of reads from one address.
    const [sessionRes, ipRes] = await Promise.all([
      Promise.all(Array.from({ length: 80 }, () => challenge(bySession, hammer.token))),
      Promise.all(Array.from({ length: 320 }, () => call("GET", `/api/sales/${byIp}`, { headers: { "cf-connecting-ip": ip } }))),
    ]);
    // Another session and another address are unaffected meanwhile.
    expect((await challenge(bySession, (await session()).token)).status).toBe(200);
    expect((await call("GET", `/api/sales/${byIp}`)).status).toBe(200);
    // The address is limited on every route, not just the one it hammered.
    const blocked = await call("POST", `/api/sales/${byIp}/challenge`, {
      token: (await session()).token,
      headers: { "cf-connecting-ip": ip },
    });

    for (const [res, limit] of [
      [sessionRes, 60],
      [ipRes, 300],
    ] as const) {
      expect(res.filter((r) => r.status === 200)).toHaveLength(limit);
      const limited = res.filter((r) => r.status !== 200);
      expect(limited).toHaveLength(res.length - limit);
      for (const r of limited) {
        expectRefused(r, 429, "rate_limited");
        expect(r.headers.get("retry-after")).toBe("10");
        expect(r.body.retry_after_s).toBe(10);
      }
    }
    expectRefused(blocked, 429, "rate_limited");
    expect((await counters(bySession)).rejected_rate_limit).toBe(20);
    expect((await counters(byIp)).rejected_rate_limit).toBe(21);
    // Operators see it in the admin stats.
    expect((await admin("GET", `/sales/${byIp}`)).body.queue.counters.rejected_rate_limit).toBe(21);
  });

  it("with batched counters (COUNTER_FLUSH_MS > 0), the tail of a burst still reaches the stats", async () => {
    const sale = await createSale();
    const s = await session();
    const batched = { COUNTER_FLUSH_MS: "300" } satisfies Partial<Env>;
    // Five refusals inside one flush period, then silence: nothing else would trigger a flush.
    const res = await Promise.all(
      Array.from({ length: 5 }, () =>
        call("POST", `/api/sales/${sale}/challenge`, { token: s.token, env: batched, headers: { "user-agent": "curl/8" } }),
      ),
    );
    for (const r of res) expectRefused(r, 403, "bot_suspected");
    // The tail's flush is one timer away: wait for the count, not for the timer.
    await vi.waitFor(async () => expect((await counters(sale)).rejected_heuristics).toBe(5), { timeout: 3000, interval: 25 });
  });
});
