// After the crowd: the come-backs (late demand for units that return), waiting until nothing is
// pending, and the evidence the invariants are checked against.
import { sleep } from "./http.mjs";
import { comeBack, finalHoldViews } from "./shopper.mjs";
import { now } from "./clock.mjs";

/**
 * Come-backs: under `release`, units return as holds end; shoppers who were told "sold out"
 * return for them (the demand that makes "sold = stock" a fair expectation).
 */
export async function comeBacks(ctx, shoppers, admin) {
  const { opts, sale } = ctx;
  ctx.phase = "comeback";
  if (opts.policy !== "release") return;
  const deadline = now() + opts.comebackS * 1000;
  while (now() < deadline) {
    const r = await admin.stats(sale.id);
    if (r.status !== 200) {
      await sleep(500);
      continue;
    }
    const { available, held } = r.body.stock;
    if (available > 0) {
      const waiting = shoppers.filter(
        (sh) => sh.holds.length === 0 && sh.token && sh.mopups < 3 && (sh.outcome === "sold_out" || sh.outcome === "sold_out_waiting"),
      );
      if (waiting.length === 0) break;
      await Promise.all(waiting.slice(0, available).map((sh) => comeBack(ctx, sh)));
    } else if (held > 0) await sleep(500);
    else break;
  }
}

/** The gateway's charges for this sale's holds (`ctx.ledger`: another gateway's ledger, in the same shape). */
// A hold id starts with its object's name: the sale id, or `<sale>~<shard>` (domain/shards.ts).
const chargesOf = (ledgerBody, saleId) =>
  ledgerBody.charges.filter((c) => c.reference.startsWith(`${saleId}_h`) || c.reference.startsWith(`${saleId}~`));

/**
 * Waits until nothing is pending: holds, outbox, refunds, and charges still processing. `state`
 * shows what is still awaited (`state.note`) and keeps every kind seen (`state.seen`).
 * Resolves `{ settled, stats, ledger }`.
 */
export async function settle(ctx, admin, state = { note: "", seen: new Set() }) {
  const { opts, sale } = ctx;
  ctx.phase = "settle";
  const deadline = now() + opts.settleTimeoutS * 1000;
  let quietOnce = false,
    stats = null,
    ledger = [];
  while (now() < deadline) {
    const [s, l] = await Promise.all([admin.stats(sale.id), ctx.ledger ? ctx.ledger() : admin.ledger()]);
    if (s.status === 200 && l.status === 200) {
      stats = s.body;
      ledger = chargesOf(l.body, sale.id);
      // Money the gateway took must end as an order or a refund. A charge whose answer never
      // reached the engine before PAY_GIVE_UP_S is found by the engine's watch (a lookup every
      // 60 s) and refunded: that can take a minute.
      const kept = ledger.filter((c) => c.status === "succeeded" && !c.refund_id).length;
      const refunded = ledger.filter((c) => c.refund_id).length;
      const waitingFor = [
        stats.holds.held && `${stats.holds.held} held`,
        stats.holds.pending && `${stats.holds.pending} pending`,
        stats.outbox.backlog && `outbox ${stats.outbox.backlog}`,
        stats.refunds.pending && `${stats.refunds.pending} refunds`,
        ledger.some((c) => c.status === "processing") && "charges processing",
        kept !== stats.holds.confirmed && `${kept - stats.holds.confirmed} charges neither order nor refund`,
        refunded !== stats.refunds.refunded && "refund records",
        ctx.inFlight?.() && "webhooks in flight",
        ctx.waitingFor?.(stats),
      ].filter(Boolean);
      state.note = waitingFor.join(", ");
      for (const w of waitingFor) state.seen.add(w.replace(/^\d+ /, "").replace(/ \d+$/, ""));
      const quiet = waitingFor.length === 0;
      // Twice in a row, a second apart: a late charge's notification may be a moment behind.
      if (quiet && quietOnce) return { settled: true, stats, ledger };
      quietOnce = quiet;
    }
    await sleep(1000);
  }
  return { settled: false, stats, ledger };
}

/**
 * The evidence: every hold as its shopper sees it, the engine, D1 (read straight from the local
 * database when the run started its own server), the ledger, then reconcile's report.
 */
export async function gatherEvidence(ctx, shoppers, admin, server, { stats, ledger }) {
  const { sale } = ctx;
  ctx.phase = "check";
  await finalHoldViews(ctx, shoppers);
  const final = await admin.stats(sale.id);
  if (final.status === 200) stats = final.body;
  const l = ctx.ledger ? await ctx.ledger() : await admin.ledger();
  if (l.status === 200) ledger = chargesOf(l.body, sale.id);
  let d1 = null;
  if (server) {
    const q = (sql) => sql.replaceAll("?", `'${sale.id}'`);
    const [orders, refunds, count] = server.d1(
      q(`SELECT hold_id, COUNT(*) AS n, MIN(user_id) AS user_id, SUM(qty) AS qty, MIN(charge_id) AS charge_id, MIN(confirmed_at) AS confirmed_at FROM orders WHERE sale_id = ? GROUP BY hold_id;
         SELECT hold_id, charge_id FROM refunds WHERE sale_id = ?;
         SELECT COUNT(*) AS n FROM orders WHERE sale_id = ?`),
    );
    d1 = { orders, refunds, count: count[0].n };
  }
  // After the D1 read: reconcile re-flushes what is missing, which would hide it.
  const rec = await admin.reconcile(sale.id);
  const reconcile = rec.status === 200 ? rec.body.report : null;
  return { stats, ledger, d1, reconcile };
}
