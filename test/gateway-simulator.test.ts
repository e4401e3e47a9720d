import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gatewaySim } from "../domain/objects";
import type { GatewaySimulator } from "../durable-objects/gateway-simulator";
import { gatewayFor } from "../durable-objects/payments";
import type { PaymentRequest } from "../durable-objects/payments/gateway";
import { simulatedGateway } from "../durable-objects/payments/simulated";

/**
 * The simulated gateway is ONE object that every product object calls. Each event it handles (a
 * call arriving, a timer of its own firing) takes its input gate and then waits for the isolate's
 * turn, so a wait inside a call doubled that call's turns and queued it behind every other call's:
 * with the model test's eight lanes on a busy machine its 5 ms latency sleeps took 0.3–7 s, every
 * call outlived the client's 250 ms timeout, and a refund stayed pending for 20 s. So it answers in
 * the turn the call arrives in, and the wait (latency, a timeout) is the caller's.
 */

const run = `gwsim-${crypto.randomUUID().slice(0, 8)}`;
let n = 0;
const request = (method: string): PaymentRequest => {
  const key = `pay_${run}-${n++}`;
  // Not a hold id: the simulator's delivery of a late outcome finds no object to tell.
  return { key, ref: key, amount: 1200, currency: "EUR", method, reference: `${run}-ref`, sale: run, payer: "acct:gwsim" };
};

/** The answer, if it came before any timer could fire (a 0 ms one is the first to). */
const beforeAnyTimer = <T>(answer: T | Promise<T>) =>
  Promise.race([Promise.resolve(answer).then((a) => ({ answered: a })), new Promise((r) => setTimeout(() => r("waited on a timer"), 0))]);

describe("the simulated gateway answers in the turn the call arrives in", () => {
  it("charge, replay, lookup, refund, an error and a timeout: each answered before any timer fires, with the wait it owes the caller", async () => {
    await runInDurableObject(gatewaySim(env), async (sim: GatewaySimulator) => {
      const ok = request("tok_ok");
      const paid = await beforeAnyTimer(sim.charge(ok));
      expect(paid).toMatchObject({ answered: { outcome: { status: "succeeded", charge_id: expect.stringMatching(/^ch_/) } } });
      const charge = (paid as { answered: { outcome: { charge_id: string } } }).answered.outcome.charge_id;
      // Latency 5 ms here (vitest.config.ts): the caller waits 2.5–7.5 ms.
      expect((paid as { answered: { after_ms: number } }).answered.after_ms).toBeGreaterThanOrEqual(2.5);
      expect((paid as { answered: { after_ms: number } }).answered.after_ms).toBeLessThanOrEqual(7.5);

      expect(await beforeAnyTimer(sim.charge(ok))).toMatchObject({ answered: { outcome: { status: "succeeded", charge_id: charge } } });
      expect(await beforeAnyTimer(sim.lookup(ok.key))).toMatchObject({ answered: { outcome: { status: "succeeded", charge_id: charge } } });
      const refund = { key: `refund_${charge}`, charge_id: charge, amount: 1200, currency: "EUR" };
      expect(await beforeAnyTimer(sim.refund(refund))).toMatchObject({ answered: { outcome: { status: "refunded" } } });
      expect(await beforeAnyTimer(sim.charge(request("tok_error")))).toMatchObject({ answered: { error: expect.stringContaining("502") } });
      // A timeout: recorded now, answered after the client (PAY_TIMEOUT_MS 250) has given up.
      expect(await beforeAnyTimer(sim.charge(request("tok_late_400")))).toMatchObject({
        answered: { after_ms: 300, outcome: { status: "unknown" } },
      });
    });
  });

  it("the caller waits what the answer owes: a timeout's answer comes after the client gave up, and the charge is on the ledger", async () => {
    const late = request("tok_late_400");
    let t0 = Date.now();
    // Unbounded, the simulator's own answer arrives once the client would have given up (250 + 50 ms).
    expect(await simulatedGateway(env).charge({ ...late, ref: late.key })).toEqual({ status: "unknown", reason: "simulated timeout" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);

    // Through the client's bound, it is an unknown outcome; asked again by key, the same charge.
    const again = request("tok_late_400");
    t0 = Date.now();
    expect(await gatewayFor(env).charge({ ...again, ref: again.key })).toEqual({ status: "unknown", reason: "no answer within 250 ms" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const rows = (await gatewaySim(env).ledger()).filter((c) => c.key === late.key || c.key === again.key);
    expect(rows.map((c) => [c.key, c.calls])).toEqual([
      [late.key, 1],
      [again.key, 1],
    ]);

    // The error is the caller's to see, after the latency: a throw, which the client's bound makes "unknown".
    const broken = request("tok_error");
    await expect(simulatedGateway(env).charge({ ...broken, ref: broken.key })).rejects.toThrow(/502 Bad Gateway/);
  });
});
