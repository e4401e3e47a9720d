// Payment pacing under Stripe's rate limit, as a rehearsal against the fake Stripe sees it
// (`--gateway stripe-fake --stripe-rate N`): the requests the fake received per second, its
// 429s, holds that expired while paying, the time from pay to confirmed, and the checks of
// issue 21's done-when (no hold lost to the queue, no double charge, the limit kept every second,
// every hold ended as its card says).
import { fmtMs, percentile } from "./stats.mjs";

/**
 * @param {object} r
 * @param {object[]} r.shoppers   with their holds (payAt, queued, final, reason)
 * @param {{orders: {hold_id, n, confirmed_at}[]} | null} r.d1
 * @param {{t, received, limited, endpoints}[]} r.traffic   the fake's requests per second
 * @param {number} r.limit        the fake's limit (account and per endpoint)
 * @param {object} r.stats        the sale's admin stats
 * @param {{reference, status, charge_id, calls, refund_id}[]} r.intents  the fake's intents (ledger)
 */
export function pacingReport({ shoppers, d1, traffic, limit, stats, intents }) {
  // Each hold as the server has it at the end (finalHoldViews), not as its shopper last saw it.
  const paid = shoppers
    .flatMap((sh) => sh.holds)
    .filter((h) => h.payAt)
    .map((h) => ({ ...h, final: h.end?.status ?? h.final, reason: h.end?.reason ?? h.reason }));
  const busy = traffic.filter((s) => s.received > 0);
  const maxReceived = Math.max(0, ...busy.map((s) => s.received));
  const maxAdmitted = Math.max(0, ...busy.map((s) => s.received - s.limited));
  const perEndpoint = {};
  for (const s of busy) for (const [e, n] of Object.entries(s.endpoints)) perEndpoint[e] = Math.max(perEndpoint[e] ?? 0, n);
  const over = busy.filter((s) => s.received > limit || Object.values(s.endpoints).some((n) => n > limit));
  const limited = busy.reduce((n, s) => n + s.limited, 0);

  const queued = paid.filter((h) => h.queued);
  const expired = paid.filter((h) => h.final === "expired");
  // An expiry the queue could cause: a queued payment's hold, or a hold whose pay request was
  // sent within its window and that ended with it (not one whose outcome stayed unknown at the
  // fake until PAY_GIVE_UP_S, a fault, nor a 3-D Secure the shopper did not complete).
  const lostToPacing = expired.filter(
    (h) => !/outcome unknown|did not complete/.test(h.reason ?? "") && (h.queued || h.payAt < h.expiresAt),
  );
  const lateToPay = expired.filter((h) => /payment window ended/.test(h.reason ?? "") && h.payAt >= h.expiresAt);
  const confirmedAt = new Map((d1?.orders ?? []).map((o) => [o.hold_id, Date.parse(o.confirmed_at)]));
  const payToConfirmed = paid.filter((h) => h.final === "confirmed" && confirmedAt.has(h.id)).map((h) => confirmedAt.get(h.id) - h.payAt);

  // As its card says: the fake's intent for the hold decides; one intent per hold.
  const byHold = new Map();
  for (const i of intents) byHold.set(i.reference, [...(byHold.get(i.reference) ?? []), i]);
  const twice = [...byHold.entries()]
    .filter(([, l]) => l.length > 1 || l.filter((i) => i.status === "succeeded" && !i.refund_id).length > 1)
    .map(([h]) => h);
  const mismatch = [];
  for (const h of paid) {
    const i = byHold.get(h.id)?.[0];
    const says = !i ? "nothing" : i.status === "succeeded" ? (i.refund_id ? "refunded" : "charged") : i.status;
    const ok =
      (h.final === "confirmed" && says === "charged") ||
      (h.final === "declined" && (says === "declined" || says === "refunded" || says === "nothing")) ||
      (h.final === "expired" && says !== "charged");
    if (!ok) mismatch.push(`${h.id}: hold ${h.final}, card ${says}`);
  }

  const lines = [
    "PAYMENT PACING (the fake Stripe's view; the machine is shared, timings are noisy)",
    `  Stripe limit          ${limit}/s per endpoint and for the account (sliding one-second window)`,
    `  requests per second   max ${maxReceived} received, max ${maxAdmitted} answered; per endpoint max ${
      Object.entries(perEndpoint)
        .map(([e, n]) => `${e} ${n}`)
        .join(" · ") || "-"
    }`,
    `  429s                  ${limited} from the fake's limiter; ${stats?.payments?.rate_limited ?? "?"} seen by the Worker (with the 429s the test cards inject)`,
    `  payments              ${paid.length} paid for; ${queued.length} queued (max place ${Math.max(0, ...queued.map((h) => h.queued.position))}); ${expired.length} expired while paying: ${lostToPacing.length} to the queue, ${lateToPay.length} asked to pay after the window, the rest a fault of the fake (an outcome unknown until PAY_GIVE_UP_S, 3-D Secure not completed)`,
    `  pay → confirmed       p50 ${fmtMs(percentile(payToConfirmed, 50))} · p99 ${fmtMs(percentile(payToConfirmed, 99))} · max ${fmtMs(Math.max(0, ...payToConfirmed))} (${payToConfirmed.length} orders; from the pay request to the order's confirmed_at)`,
  ];
  const checks = [
    {
      name: "Stripe: requests within the limit in every second (no 429 from the limiter)",
      pass: over.length === 0 && limited === 0,
      detail: `max ${maxReceived}/s received, ${limited} limited`,
      evidence: over.slice(0, 5).map((s) => `${new Date(s.t * 1000).toISOString()}: ${s.received} (${JSON.stringify(s.endpoints)})`),
      more: Math.max(0, over.length - 5),
    },
    {
      name: "Pacing: no hold expired because of the payment queue",
      pass: lostToPacing.length === 0,
      detail: `${queued.length} queued, ${expired.length} expired while paying`,
      evidence: lostToPacing.slice(0, 5).map((h) => `${h.id}: ${h.reason}`),
      more: Math.max(0, lostToPacing.length - 5),
    },
    {
      name: "Stripe: one intent per hold, no double charge",
      pass: twice.length === 0,
      detail: `${byHold.size} holds with an intent`,
      evidence: twice.slice(0, 5),
      more: Math.max(0, twice.length - 5),
    },
    {
      name: "Stripe: every hold paid for ended as its card says",
      pass: mismatch.length === 0,
      detail: `${paid.length} holds`,
      evidence: mismatch.slice(0, 5),
      more: Math.max(0, mismatch.length - 5),
    },
  ];
  return { lines, checks };
}
