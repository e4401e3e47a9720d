// The nemesis: a run's faults, each at its drawn moment after the sale opens. Everything goes
// through what an operator or the outside world could do: kill -9 of the server, the admin API's
// faults (object restarts, D1 outages, gateway rates), the admin's pause/resume and restock, and
// the fake Stripe's own faults (5xx before and after the charge, timeouts, 429s, slow charges).
import { sleep } from "../http.mjs";
import { now } from "../clock.mjs";

/** Resolves with what fired (`{ what, at, detail }`), once the whole schedule has run. */
export async function runNemesis(plan, { server, admin, sale, stripe, log }) {
  const fired = [];
  const note = (what, detail) => {
    fired.push({ what, at: now() - sale.starts_at_ms, detail });
    log(`nemesis: ${what} ${detail}`);
  };
  // An operator retries a 503 ("retry") or a dropped connection, as a shopper does.
  const retried = async (call) => {
    for (let i = 0; ; i++) {
      const r = await call();
      if ((r.status !== 503 && r.status !== 0) || i >= 20) return r;
      await sleep(300);
    }
  };
  const ok = async (call, what) => {
    const r = await retried(call);
    if (r.status !== 200) throw new Error(`nemesis ${what}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  for (const n of plan.nemesis) {
    const wait = sale.starts_at_ms + n.at - now();
    if (wait > 0) await sleep(wait);
    switch (n.what) {
      case "kill9":
        await server.crash();
        note("kill9", "the whole dev server, restarted on the same state");
        break;
      case "restart":
        await ok(() => admin.faults({ sale: sale.id, restart: true }), "restart");
        note("restart", "the sale's product object");
        break;
      case "d1":
        await ok(() => admin.faults({ sale: sale.id, d1_down_ms: n.ms }), "d1");
        note("d1", `down for ${n.ms} ms`);
        break;
      case "gateway":
        if (stripe) {
          stripe.fake.setRates(
            n.heavy
              ? { decline: 0.05, timeout: 0.1, error: 0.1, error_after: 0.05, ratelimit: 0.1, three_ds: 0.1, slow: 0.05 }
              : { decline: 0.05, timeout: 0.03, error: 0.03, error_after: 0.02, ratelimit: 0.05, three_ds: 0.05, slow: 0.02 },
          );
          note("gateway", `fake Stripe: 5xx, 5xx after the charge, timeouts, 429s, slow charges, 3-D Secure${n.heavy ? " (heavy)" : ""}`);
        } else {
          await ok(
            () =>
              admin.faults({
                gateway: {
                  latency_ms: 40,
                  decline_rate: 0.05,
                  timeout_rate: n.heavy ? 0.25 : 0.08,
                  late_success_rate: 0.5,
                  late_ms: 2000,
                  duplicate_rate: n.heavy ? 0.1 : 0.03,
                },
              }),
            "gateway",
          );
          note("gateway", `simulated: timeouts, late successes, duplicate deliveries${n.heavy ? " (heavy)" : ""}`);
        }
        break;
      case "pause":
        await ok(() => admin.pause(sale.id), "pause");
        await sleep(n.ms);
        await ok(() => admin.resume(sale.id), "resume");
        note("pause", `for ${n.ms} ms`);
        break;
      case "restock":
        await ok(() => admin.restock(sale.id, n.qty), "restock");
        note("restock", `+${n.qty}`);
        break;
      default:
        throw new Error(`nemesis: unknown fault ${n.what}`);
    }
  }
  return fired;
}
