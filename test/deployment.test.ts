import fc from "fast-check";
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inventory } from "../domain/objects";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { clockShift, fromPlatform, now, onPlatform, shiftClock } from "../domain/clock";
import { deploymentProblem, SettingsSchema } from "../domain/config";
import { advanceClock } from "./support/clock";
import { createSale } from "./support/sales";
import { idemKey } from "./support/shoppers";
import { call, stats } from "./support/worker";

const production = { DEPLOYMENT: "production", GATEWAY: "stripe" } as const;

/** Requests of every kind a deployed Worker gets, with the env of that deployment. */
async function everyKindOfRequest(over: Partial<Env>, sale: string) {
  const s = await call("POST", "/api/session");
  const opts = { env: over };
  return [
    await call("POST", "/api/session", opts),
    await call("GET", `/api/sales/${sale}`, opts),
    await call("POST", `/api/sales/${sale}/challenge`, { ...opts, token: s.body.token }),
    await call("POST", `/api/sales/${sale}/claim`, { ...opts, token: s.body.token, body: {}, headers: { "idempotency-key": idemKey() } }),
    await call("POST", "/api/holds/x_h00000000000000000000/pay", { ...opts, token: s.body.token, body: { payment_method: "tok_ok" } }),
    await call("GET", `/admin/sales/${sale}`, { ...opts, token: env.ADMIN_TOKEN }),
    await call("POST", "/admin/faults", { ...opts, token: env.ADMIN_TOKEN, body: { restart: true, sale } }),
  ];
}

/** Audit item 8: local conveniences never reach a deployed Worker by accident. */
describe("production is not local", () => {
  let spy: MockInstance<typeof console.error>;
  beforeAll(() => void (spy = vi.spyOn(console, "error").mockImplementation(() => {})));
  afterAll(() => spy.mockRestore());

  it("wrangler.toml's own [vars] are production's and pass the rule; a deploy that sets nothing is production", () => {
    expect(deploymentProblem(SettingsSchema.parse({}))).toMatch(/GATEWAY = "simulated"/); // the defaults alone are refused
    expect(SettingsSchema.parse({}).DEPLOYMENT).toBe("production");
  });

  it.each([
    ["the simulated gateway", { GATEWAY: "simulated" }, /GATEWAY/],
    ["fault injection", { ALLOW_FAULTS: "true" }, /ALLOW_FAULTS/],
    ["the demo sign-in", { DEMO_SIGNIN: "on" }, /DEMO_SIGNIN/],
    ["a deliberate bug (the tests' mutation switch)", { MUTATION: "drop-outbox" }, /MUTATION/],
    ["no DEPLOYMENT and test cards", { DEPLOYMENT: undefined, GATEWAY: "simulated" }, /GATEWAY/],
    ["Stripe pointed at a stand-in", { STRIPE_API_BASE: "http://stripe.test" }, /STRIPE_API_BASE/],
  ])("refuses every request in production with %s, and says why in the log", async (_what, over, why) => {
    const sale = await createSale();
    spy.mockClear();
    const answers = await everyKindOfRequest({ ...production, ...over } as Partial<Env>, sale);
    for (const r of answers) {
      expect(r.status).toBe(503);
      expect(r.body.error).toBe("misconfigured");
      expect(r.headers.get("retry-after")).toBe("60");
    }
    const logged = spy.mock.calls.map((a) => String(a[0])).filter((l) => l.includes('"deployment_refused"'));
    expect(logged.some((l) => why.test(l) && l.includes("--env staging"))).toBe(true);
  });

  it("serves in production with a real gateway, and in staging with test cards on purpose", async () => {
    const sale = await createSale();
    const [prod, staging] = await Promise.all([
      everyKindOfRequest(production, sale),
      everyKindOfRequest({ DEPLOYMENT: "staging", GATEWAY: "simulated", ALLOW_FAULTS: "true" }, sale),
    ]);
    for (const answers of [prod, staging]) {
      expect(answers[0]!.status).toBe(201);
      expect(answers[1]!.status).toBe(200);
      expect(answers.every((r) => r.status !== 503)).toBe(true);
    }
  });
});

/** The one clock (domain/clock.ts) is moved only by local tests: a deployed Worker's cannot be. */
describe("the clock", () => {
  it("moves only where DEPLOYMENT is local, and only forward; everything reads the moved time", async () => {
    for (const deployment of [{ DEPLOYMENT: "production" }, { DEPLOYMENT: "staging" }, {}]) {
      expect(() => shiftClock(deployment, 1000), JSON.stringify(deployment)).toThrow(/only in local tests/);
    }
    // Where it stands now (earlier files in this runtime may have moved it): refused moves keep it there.
    const shift = clockShift();
    expect(() => shiftClock(env, shift - 1)).toThrow(/only moves forward/);
    expect(() => shiftClock(env, Number.NaN)).toThrow(/only moves forward/);
    expect(clockShift()).toBe(shift);
    const before = now();
    advanceClock(3_600_000);
    expect(now() - before).toBeGreaterThanOrEqual(3_600_000);
    // The edge and the objects read it too: a sale that opened a second ago on the moved clock
    // (an hour ahead of the platform's) is open for both, and the object stamps its start there.
    const sale = await createSale();
    expect(Date.parse((await stats(sale)).served.since)).toBeGreaterThan(Date.now() + 3_590_000);
    expect((await stats(sale)).sale!.status).toBe("open");
    expect((await call("GET", `/api/sales/${sale}`)).body.sale.status).toBe("open");
  });

  it("sets alarms in whole milliseconds, never before the time wanted", () => {
    // A paced re-ask is due at a fraction of a millisecond; the runtime keeps alarms in whole
    // ones, and an alarm set back to the time of the one just run is dropped (soak seed 465152712).
    fc.assert(
      fc.property(fc.double({ min: 1e12, max: 4e12, noNaN: true }), (t) => {
        const at = onPlatform(t) + clockShift();
        expect(Number.isInteger(at)).toBe(true);
        expect(at).toBeGreaterThanOrEqual(t);
        expect(at - t).toBeLessThan(1);
        expect(fromPlatform(onPlatform(t))).toBe(Math.ceil(t));
      }),
    );
  });

  it("never asks the runtime for an alarm at or before its epoch: a time long past is set as now", async () => {
    // The runtime refuses setAlarm(t <= 0) with a TypeError and sets no alarm at all; a time that
    // far back (0, or anything before the tests' shift) means "due now".
    fc.assert(
      fc.property(fc.double({ min: -1e12, max: 1e12, noNaN: true }), (t) => {
        expect(onPlatform(t)).toBeGreaterThanOrEqual(1);
      }),
    );
    // The runtime refuses 0 and takes what onPlatform gives for it.
    const sale = await createSale();
    await runInDurableObject(inventory(env, sale), async (_i, state) => {
      await expect(state.storage.setAlarm(0)).rejects.toThrow(/alarm time/);
      await expect(state.storage.setAlarm(onPlatform(0))).resolves.toBeUndefined();
    });
  });
});
