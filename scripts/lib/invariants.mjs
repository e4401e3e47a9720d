// The rehearsal's verdict: the invariants of docs/ARCHITECTURE.md checked against four
// independent views of the same sale: the shoppers' (every answer they got), the engine's
// (GET /admin/sales/:id), D1's (rows, locally via `wrangler d1 execute`) and the payment
// gateway's ledger (GET /admin/gateway/ledger).

const ACTIVE = new Set(["held", "pending"]);

/**
 * Refusals an honest shopper may meet in a sale that works, per step (lib/shopper.mjs's names).
 * Anything else (account_required, identity_invalid, unauthorized, bot_suspected, pow_failed, …)
 * means the crowd could not shop: a rehearsal that sold nothing must not pass. 429s, 5xx and
 * dropped connections are retried and judged elsewhere (invariant 9, the errors table).
 */
export const EXPECTED_REFUSALS = {
  session: [],
  challenge: ["sale_closed"],
  queue: ["sale_closed"],
  poll: [],
  info: [],
  claim: ["sold_out", "limit_reached", "not_open", "pass_required", "sale_closed"],
  pay: ["payment_declined", "hold_ended", "payment_in_progress"],
  cancel: ["hold_ended"],
  hold: [],
  holds: [],
};
/** A bot also meets the limits its extra sessions run into. */
export const EXPECTED_BOT_REFUSALS = {
  ...EXPECTED_REFUSALS,
  claim: [...EXPECTED_REFUSALS.claim],
  pay: [...EXPECTED_REFUSALS.pay, "card_limit_reached"],
};

/** The refusals (`{ "step status code": n }`) that are not expected, as evidence lines. */
export function unexpectedRefusals(refusals, expected = EXPECTED_REFUSALS) {
  const out = [];
  for (const [k, n] of Object.entries(refusals)) {
    const [step, status, code = ""] = k.split(" ");
    const s = Number(status);
    if (s === 0 || s === 429 || s >= 500) continue;
    if (!(expected[step] ?? []).includes(code)) out.push(`${n}× ${k}`);
  }
  return out;
}

const check = (name, pass, detail, evidence = []) => ({
  name,
  pass,
  detail,
  evidence: evidence.slice(0, 10),
  more: Math.max(0, evidence.length - 10),
});

/**
 * @param {object} v
 * @param {object} v.stats      final GET /admin/sales/:id
 * @param {object} v.peak       highest sold + held seen while the sale ran (stats poller)
 * @param {object[]} v.shoppers shopper records (scripts/lib/shopper.mjs)
 * @param {object[]} v.ledger   the gateway's charges for this sale
 * @param {object|null} v.d1    local D1 rows { orders: [{hold_id, n, user_id, qty, charge_id, amount}], refunds: [...], count }
 * @param {object|null} v.reconcile POST /admin/sales/:id/reconcile report
 * @param {object} v.sale       the sale as created
 * @param {boolean} v.settled   whether the wait for "nothing pending" ended before its timeout
 * @param {object} [v.refusals]    honest shoppers' refusals by "step status code"; `botRefusals` the bots'
 * @param {object} [v.fairness]    lib/fairness.mjs's figures (first come, first served after the opening)
 * @param {any} [v.admittedBound] the line's rate check: { admitted, rate, elapsedS, bound } at the end
 * @param {Record<string, number>} [v.errors] server and transport errors (5xx, none) by step
 * @param {Record<string, string[]>} [v.errorSamples] a few bodies of each
 * @param {object} [v.botRefusals] the bots' refusals by "step status code"
 */
export function checkInvariants({
  stats,
  peak,
  shoppers,
  ledger,
  d1,
  reconcile,
  sale,
  settled,
  admittedBound,
  errors = {},
  errorSamples = {},
  refusals = {},
  botRefusals = {},
  fairness = null,
}) {
  const out = [];
  const st = stats.stock;
  const holds = shoppers.flatMap((sh) => sh.holds.map((h) => ({ ...h, user: sh.user, identity: sh.identity, shopper: sh.i })));
  const endOf = (h) => h.end?.status ?? h.final;
  const confirmed = holds.filter((h) => endOf(h) === "confirmed");

  // 1. No oversell.
  {
    const ev = [];
    if (st.sold > st.stock_total) ev.push(`sold ${st.sold} > stock ${st.stock_total}`);
    // A sharded sale: units between shards count too, and each shard's own books balance.
    const units = st.available + st.held + st.sold + st.withdrawn + (st.in_transit ?? 0);
    if (units !== st.stock_total)
      ev.push(`available+held+sold+withdrawn${st.in_transit === undefined ? "" : "+in_transit"} = ${units} ≠ ${st.stock_total}`);
    for (const r of stats.shards ?? []) {
      if (r.stock.stock_total !== r.base - r.given + r.received)
        ev.push(`shard ${r.shard}: stock_total ${r.stock.stock_total} ≠ base ${r.base} − given ${r.given} + received ${r.received}`);
      if (r.asking) ev.push(`shard ${r.shard}: ${r.asking} transfers still unapplied`);
    }
    if (peak.soldPlusHeld > st.stock_total) ev.push(`sold+held reached ${peak.soldPlusHeld} at ${peak.at}`);
    if (confirmed.length > st.stock_total) ev.push(`${confirmed.length} shoppers hold a confirmed order for ${st.stock_total} units`);
    out.push(
      check(
        "no oversell (sold ≤ stock, sold+held ≤ stock throughout)",
        ev.length === 0,
        `sold ${st.sold} / stock ${st.stock_total}; peak sold+held ${peak.soldPlusHeld}; shoppers with an order ${confirmed.length}${stats.shards ? `; ${stats.shards.length} shards, ${stats.shards.reduce((n, r) => n + r.received, 0)} units moved between them` : ""}`,
        ev,
      ),
    );
  }

  // 2. Demand beyond the stock sells it out (a run that sold nothing must not pass). Demand is
  // counted in identities (accounts, or networks in an anonymous sale), each wanting a unit.
  {
    const demand = new Set(shoppers.map((sh) => sh.identity ?? sh.user)).size;
    const unmet = shoppers.filter((sh) => sh.holds.length === 0 && (sh.outcome === "sold_out" || sh.outcome === "sold_out_waiting"));
    const name = "sells out when demand exceeds stock (release: sold = stock; undersell: nothing left available)";
    const detail = `demand ${demand} identities for ${st.stock_total} units: sold ${st.sold}, available ${st.available}, held ${st.held}, withdrawn ${st.withdrawn}; ${unmet.length} shoppers went home without a hold`;
    if (demand <= st.stock_total) {
      out.push(check(name, null, `n/a: ${demand} identities for ${st.stock_total} units (demand does not exceed stock)`));
    } else if (sale.release_policy === "release") {
      out.push(
        check(
          name,
          st.sold === st.stock_total,
          detail,
          st.sold === st.stock_total ? [] : [`${st.stock_total - st.sold} units unsold while ${demand} identities wanted one`],
        ),
      );
    } else if (sale.release_policy === "undersell") {
      out.push(
        check(
          name,
          st.available === 0,
          detail,
          st.available === 0 ? [] : [`${st.available} units still available while ${demand} identities wanted one`],
        ),
      );
    } else {
      out.push(check(name, null, `n/a under ${sale.release_policy}: ${detail}`));
    }
  }

  // 2b. Shoppers were refused only for reasons a working sale gives (by step and code).
  {
    const honest = unexpectedRefusals(refusals);
    const bots = unexpectedRefusals(botRefusals, EXPECTED_BOT_REFUSALS).map((e) => `bots: ${e}`);
    const honestErrors = shoppers.filter((sh) => sh.bot === undefined && sh.outcome === "error").length;
    const n = Object.values(refusals).reduce((a, b) => a + b, 0);
    out.push(
      check(
        "no unexpected refusals (e.g. account_required, identity_invalid, bot_suspected for honest shoppers)",
        honest.length + bots.length === 0,
        `${n} refusals of honest shoppers (REFUSALS lists them by step and code); ${honestErrors} honest shoppers ended in an error`,
        [...honest, ...bots],
      ),
    );
  }

  // 3. Per-user limit: D1, the shoppers' confirmed holds, and the greedy shoppers' extra claims.
  {
    const ev = [];
    const limit = sale.per_user_limit;
    // Per identity: an account, or a network in an anonymous sale (a bot's sessions are one).
    const perUser = new Map();
    for (const h of confirmed) perUser.set(h.identity ?? h.user, (perUser.get(h.identity ?? h.user) ?? 0) + 1);
    for (const [u, n] of perUser) if (n > limit) ev.push(`identity ${u} has ${n} confirmed holds (limit ${limit})`);
    if (d1) {
      const units = new Map();
      for (const o of d1.orders) units.set(o.user_id, (units.get(o.user_id) ?? 0) + o.qty);
      for (const [u, n] of units) if (n > limit) ev.push(`D1: user ${u} has ${n} units in orders (limit ${limit})`);
    }
    let greedy = 0;
    for (const sh of shoppers.filter((s) => s.greedy)) {
      greedy++;
      const ids = new Set(sh.greedyIds ?? []);
      if (ids.size > limit) ev.push(`shopper ${sh.user}: 3 concurrent claims made ${ids.size} holds: ${[...ids].join(", ")}`);
      if (sh.greedyReplay === false) ev.push(`shopper ${sh.user}: the same Idempotency-Key answered two different holds`);
      if (sh.extraClaim?.hold && !sh.holds.some((h) => h.id === sh.extraClaim.hold))
        ev.push(`shopper ${sh.user}: a claim after buying made a new hold ${sh.extraClaim.hold}`);
    }
    out.push(
      check(
        "per-user limit (no shopper over the limit; repeated claims get the same hold)",
        ev.length === 0,
        `limit ${limit}; ${perUser.size} buyers (identities); ${greedy} greedy shoppers tried 3 concurrent claims (+1 after buying)${d1 ? "; D1 orders grouped by user" : ""}`,
        ev,
      ),
    );
  }

  // 4. Every confirmed hold has exactly one D1 order (and every order a confirmed hold).
  {
    const ev = [];
    if (d1) {
      const byHold = new Map(d1.orders.map((o) => [o.hold_id, o]));
      for (const o of d1.orders) if (o.n !== 1) ev.push(`hold ${o.hold_id} has ${o.n} orders in D1`);
      for (const h of confirmed) if (!byHold.has(h.id)) ev.push(`confirmed hold ${h.id} has no D1 order`);
      const known = new Map(holds.map((h) => [h.id, h]));
      for (const o of d1.orders) {
        const h = known.get(o.hold_id);
        if (!h) ev.push(`D1 order for hold ${o.hold_id} that no shopper was given`);
        else if (endOf(h) !== "confirmed") ev.push(`D1 order for hold ${o.hold_id}, which its shopper sees as ${endOf(h)}`);
      }
      if (d1.orders.length !== stats.holds.confirmed)
        ev.push(`D1 has ${d1.orders.length} orders, the engine ${stats.holds.confirmed} confirmed holds`);
    } else {
      if (stats.d1?.orders !== stats.holds.confirmed)
        ev.push(`D1 counts ${stats.d1?.orders} orders, the engine ${stats.holds.confirmed} confirmed holds`);
      if (confirmed.length !== stats.holds.confirmed)
        ev.push(`shoppers see ${confirmed.length} confirmed holds, the engine ${stats.holds.confirmed}`);
    }
    if (reconcile) {
      for (const id of reconcile.orders.missing) ev.push(`reconcile: order ${id} missing from D1 (re-enqueued)`);
      for (const id of reconcile.orders.unexpected) ev.push(`reconcile: D1 order ${id} without a confirmed hold`);
    }
    out.push(
      check(
        "every confirmed hold has exactly one D1 order",
        ev.length === 0,
        d1
          ? `${confirmed.length} confirmed holds (shoppers' view), ${d1.orders.length} D1 orders checked hold by hold`
          : `counts only (no local D1): engine ${stats.holds.confirmed}, D1 ${stats.d1?.orders}; reconcile missing ${reconcile?.orders.missing.length ?? "?"}`,
        ev,
      ),
    );
  }

  // 5. Every charge the gateway took is an order or a refund (no lost payment, no double charge).
  {
    const ev = [];
    const succeeded = ledger.filter((c) => c.status === "succeeded");
    const refundedCharges = succeeded.filter((c) => c.refund_id);
    if (d1) {
      const orderByCharge = new Map(d1.orders.map((o) => [o.charge_id, o]));
      const d1Refunds = new Set(d1.refunds.map((r) => r.charge_id));
      for (const c of succeeded) {
        const o = orderByCharge.get(c.charge_id);
        if (c.refund_id && o) ev.push(`charge ${c.charge_id} (hold ${c.reference}) is both an order and refunded`);
        if (!c.refund_id && !o) ev.push(`charge ${c.charge_id} (hold ${c.reference}, ${c.amount}) is neither an order nor refunded`);
        if (o && o.hold_id !== c.reference) ev.push(`charge ${c.charge_id} is for hold ${c.reference} but its order is hold ${o.hold_id}`);
        if (c.refund_id && !d1Refunds.has(c.charge_id)) ev.push(`refund of ${c.charge_id} is not recorded in D1`);
      }
      const charged = new Set(succeeded.map((c) => c.charge_id));
      for (const o of d1.orders)
        if (!charged.has(o.charge_id)) ev.push(`D1 order ${o.hold_id} names charge ${o.charge_id}, which the gateway has not taken`);
    } else {
      const net = succeeded.length - refundedCharges.length;
      if (net !== stats.holds.confirmed) ev.push(`${net} charges kept (succeeded − refunded) vs ${stats.holds.confirmed} confirmed holds`);
      if (refundedCharges.length !== stats.refunds.refunded)
        ev.push(`${refundedCharges.length} refunds at the gateway vs ${stats.refunds.refunded} in the engine`);
      if (stats.d1 && refundedCharges.length !== stats.d1.refunds)
        ev.push(`${refundedCharges.length} refunds at the gateway vs ${stats.d1.refunds} in D1`);
    }
    const keys = new Set();
    for (const c of ledger) {
      if (keys.has(c.key)) ev.push(`two charges with key ${c.key}`);
      keys.add(c.key);
    }
    out.push(
      check(
        "every gateway charge is an order or a refund",
        ev.length === 0,
        `${ledger.length} charges: ${succeeded.length} succeeded (${refundedCharges.length} refunded), ${ledger.filter((c) => c.status === "declined").length} declined, ${ledger.filter((c) => c.status === "processing").length} processing; ${ledger.reduce((n, c) => n + c.calls, 0)} calls`,
        ev,
      ),
    );
  }

  // 6. Nothing left pending.
  {
    const ev = [];
    if (!settled) ev.push("the wait for a quiet sale timed out");
    if (stats.holds.held) ev.push(`${stats.holds.held} holds still held`);
    if (stats.holds.pending) ev.push(`${stats.holds.pending} holds still pending`);
    if (stats.outbox.backlog) ev.push(`outbox backlog ${stats.outbox.backlog} (oldest ${stats.outbox.oldest_age_ms} ms)`);
    if (stats.refunds.pending) ev.push(`${stats.refunds.pending} refunds pending`);
    for (const c of ledger.filter((c) => c.status === "processing")) ev.push(`charge ${c.key} still processing`);
    for (const h of holds.filter((h) => ACTIVE.has(endOf(h)))) ev.push(`hold ${h.id} still ${endOf(h)} (shopper's view)`);
    out.push(
      check(
        "nothing left pending (holds, outbox, refunds, gateway)",
        ev.length === 0,
        `held ${stats.holds.held}, pending ${stats.holds.pending}, outbox ${stats.outbox.backlog}, refunds pending ${stats.refunds.pending}`,
        ev,
      ),
    );
  }

  // 7. The operator's stats agree with D1 and with what shoppers were told.
  {
    const ev = [];
    const d = stats.d1 ?? {};
    if (d.error) ev.push(`stats could not read D1: ${d.error}`);
    if (d.orders !== stats.holds.confirmed) ev.push(`stats.d1.orders ${d.orders} ≠ holds.confirmed ${stats.holds.confirmed}`);
    if (d.units !== st.sold) ev.push(`stats.d1.units ${d.units} ≠ stock.sold ${st.sold}`);
    if (d.units !== stats.units.confirmed) ev.push(`stats.d1.units ${d.units} ≠ units.confirmed ${stats.units.confirmed}`);
    if (d.refunds !== stats.refunds.refunded) ev.push(`stats.d1.refunds ${d.refunds} ≠ refunds.refunded ${stats.refunds.refunded}`);
    if (d.revenue !== st.sold * sale.product.price) ev.push(`stats.d1.revenue ${d.revenue} ≠ sold × price ${st.sold * sale.product.price}`);
    if (d1 && d1.count !== d.orders) ev.push(`wrangler d1 execute counts ${d1.count} orders, the admin route ${d.orders}`);
    // Every hold the engine made was handed to a shopper, and ended the way that shopper sees it.
    const engineTotal = Object.values(stats.holds).reduce((a, b) => a + b, 0);
    if (engineTotal !== holds.length) ev.push(`the engine has ${engineTotal} holds, shoppers were given ${holds.length}`);
    const mine = {};
    for (const h of holds) mine[endOf(h)] = (mine[endOf(h)] ?? 0) + 1;
    for (const s of Object.keys(stats.holds))
      if ((mine[s] ?? 0) !== stats.holds[s]) ev.push(`${s}: engine ${stats.holds[s]}, shoppers' view ${mine[s] ?? 0}`);
    out.push(
      check(
        "admin stats agree with D1 and with the shoppers' view",
        ev.length === 0,
        `D1 ${d.orders} orders / ${d.units} units / ${d.refunds} refunds; engine holds ${JSON.stringify(stats.holds)}`,
        ev,
      ),
    );
  }

  // 8. Admission: never more than rate × elapsed + burst.
  if (admittedBound) {
    const { admitted, bound, rate, elapsedS } = admittedBound;
    out.push(
      check(
        "admission within rate (admitted ≤ rate·t + burst)",
        admitted <= bound,
        `${admitted} admitted in ${elapsedS.toFixed(1)} s at ${rate}/s (bound ${Math.floor(bound)})`,
        admitted <= bound ? [] : [`${admitted} > ${Math.floor(bound)}`],
      ),
    );
  }
  // 8b. First come, first served after the opening: the order honest shoppers joined in against
  // the order they were admitted in. The line serves arrivals in 100 ms buckets (random order
  // within one), which alone keeps ρ near 1 − 1/m² for joins spread over m buckets: judged only
  // with enough shoppers (30) over enough buckets (1 s of joins).
  if (fairness) {
    const { n, rho, spanMs } = fairness.postOpening;
    const name = "first come, first served after the opening (Spearman ρ, joining vs admission order, ≥ 0.9)";
    if (n < 30 || spanMs < 1000 || rho === null) {
      out.push(
        check(
          name,
          null,
          `n/a: ${n} admitted honest shoppers joined after the opening, over ${(spanMs / 1000).toFixed(1)} s (needs ≥ 30 over ≥ 1 s)`,
        ),
      );
    } else {
      out.push(
        check(
          name,
          rho >= 0.9,
          `ρ = ${rho.toFixed(3)} over ${n} shoppers who joined over ${(spanMs / 1000).toFixed(1)} s (target ≥ 0.95)`,
          rho >= 0.9 ? [] : [`ρ = ${rho.toFixed(3)} < 0.9`],
        ),
      );
    }
  }

  // 9. Bad input and bad luck get a clear 4xx/503, never a 500 (a warning: the rehearsal's own
  // restart fault is one way to get there, see the sample message).
  {
    const fivehundreds = Object.entries(errors).filter(([k]) => / 500 /.test(` ${k} `));
    const n = fivehundreds.reduce((a, [, v]) => a + v, 0);
    out.push(
      check(
        "no 500 answers (invariant 9)",
        n === 0 ? true : "warn",
        n === 0 ? "none" : `${n} answers were 500 (retried by the shoppers)`,
        fivehundreds.map(([k, v]) => `${v}× ${k}${errorSamples[k] ? `: "${errorSamples[k]}"` : ""}`),
      ),
    );
  }
  return out;
}
