// One sale: its figures (stock as a bar, the line, orders and D1, expiry, rejections) from
// GET /admin/sales/:id, and the operator's actions on it, with a confirmation for what cannot be
// undone (closing, adding stock).
import { paymentNeeds, paymentWarning } from "../../domain/payment-rate.js";
import { body, el, figure, money, n, when } from "./operator.js";

/** An element of the page by id: its kind (input, button, dialog, meter) is the HTML's, so `any` here. @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);

/** The stock bar's parts: they add up to stock_total (held = waiting to pay + paying). */
/** @type {[string, string, (s: any) => number, string][]} */
const STOCK = [
  ["available", "Available", (s) => s.stock.available, "stock.available"],
  ["held", "Held", (s) => s.units.held, "units.held"],
  ["paying", "Paying", (s) => s.units.pending, "units.pending"],
  ["sold", "Sold", (s) => s.stock.sold, "stock.sold"],
  ["withdrawn", "Withdrawn", (s) => s.stock.withdrawn, "stock.withdrawn"],
];

/** The edge's counters, as an operator reads them. */
const TURNED_AWAY = {
  rejected_pow: "Proof of work failed",
  rejected_turnstile: "Turnstile failed",
  rejected_rate_limit: "Over a rate limit",
  rejected_heuristics: "Bot heuristics",
  sold_out_fast_path: "Told “sold out” at the edge",
};

/**
 * What the sale needs from Stripe (stock ÷ hold window) against what the account's pacer clears,
 * with the figures and the ways out when it is more (`pacing`: GET /admin/payments).
 */
function renderPaymentRate(s, pacing) {
  const box = $("pay-warning");
  if (!pacing || !s.stock) return void (box.hidden = true);
  const args = { stock: s.stock.stock_total, hold_ttl_s: s.sale.hold_ttl_s, rates: pacing.rates, headroom: pacing.headroom };
  const need = paymentNeeds(args);
  const warning = paymentWarning(args);
  box.hidden = false;
  box.classList.toggle("over", Boolean(warning));
  // Derived here, not an API field (data-figure marks those): whether the pacer can clear the sale.
  box.dataset.paymentRate = need.over ? "over" : "ok";
  box.textContent =
    warning ??
    `payments: ${need.paid_holds_per_s.toFixed(1)} paid holds/s needed (stock ÷ hold window), ${need.endpoint_rps.toFixed(1)} requests/s per Stripe endpoint; ` +
      `the account's pacer clears ${need.capacity_per_s.toFixed(1)}/s${pacing.paced ? "" : " (not paced: simulated gateway)"}.`;
}

export function renderSale(s, pacing = null) {
  const { sale, stock, queue: q } = s;
  $("sale-title").textContent = `${sale.product.name}`;
  $("sale-id").textContent = sale.id;
  $("sale-status").textContent = sale.status;
  $("sale-status").className = `badge ${sale.status}`;
  $("sale-status").dataset.figure = "sale.status";
  $("sale-status").dataset.value = sale.status;
  $("sale-window").textContent =
    `${when(sale.starts_at)} → ${when(sale.ends_at)} · ${money(sale.product.price, sale.product.currency)} · ${sale.release_policy}`;

  // Stock: one bar, each part as wide as its share.
  $("stockbar").replaceChildren(
    ...STOCK.map(([key, label, get]) => {
      const v = get(s);
      return el("span", { class: `part ${key}`, style: `flex-grow: ${v}`, title: `${label}: ${n(v)}` });
    }),
  );
  $("stock-figs").replaceChildren(
    ...STOCK.map(([key, label, get, path]) =>
      figure(el("span", {}, el("i", { class: `key ${key}`, "aria-hidden": "true" }), label), path, get(s)),
    ),
    figure("Total", "stock.stock_total", stock.stock_total),
  );

  // The line: in line, admitted, waiting; active against max_active.
  const meter = $("active-meter");
  meter.max = q.max_active;
  meter.value = q.active;
  meter.title = `${n(q.active)} of ${n(q.max_active)} active`;
  $("line-figs").replaceChildren(
    figure("Queued", "queue.in_line", q.in_line),
    figure("Admitted", "queue.admitted", q.admitted),
    figure("Waiting", "queue.waiting", q.waiting),
    figure("Active", "queue.active", q.active, `${n(q.active)} / ${n(q.max_active)}`),
    figure("Max active", "queue.max_active", q.max_active),
    figure("Admitted per second", "queue.admission_rate", q.admission_rate),
  );

  const d1 = "error" in (s.d1 ?? {}) || !s.d1 ? null : s.d1;
  $("more-figs").replaceChildren(
    figure("Orders in D1", "d1.orders", d1?.orders, d1 ? n(d1.orders) : (s.d1?.error ?? "–")),
    figure("Revenue in D1", "d1.revenue", d1?.revenue, d1 ? money(d1.revenue, sale.product.currency) : "–"),
    figure("Outbox backlog", "outbox.backlog", s.outbox.backlog),
    figure("Last D1 lag (ms)", "outbox.last_lag_ms", s.outbox.last_lag_ms),
    figure("Flush failures", "outbox.failures", s.outbox.failures),
    figure("Refunded", "refunds.refunded", s.refunds.refunded),
    // The shop's order events (docs/events.md): dead ones wait for `npm run sale -- events resend <sale>`.
    ...(s.events?.webhook
      ? [
          figure(
            "Webhooks delivered",
            "events.webhook.delivered",
            s.events.webhook.delivered,
            `${n(s.events.webhook.delivered)} (${n(s.events.webhook.pending)} waiting)`,
          ),
          figure(
            "Dead webhook events",
            "events.webhook.dead",
            s.events.webhook.dead,
            s.events.webhook.dead ? `${n(s.events.webhook.dead)}: events resend` : "0",
          ),
        ]
      : []),
    ...(s.events?.queue
      ? [
          figure(
            "Queued events sent",
            "events.queue.delivered",
            s.events.queue.delivered,
            `${n(s.events.queue.delivered)} (${n(s.events.queue.pending)} waiting)`,
          ),
        ]
      : []),
    figure("Expired holds", "expiry.expired", s.expiry.expired),
    figure("Expiry late, max (ms)", "expiry.max_late_ms", s.expiry.max_late_ms),
    figure("Payments queued (Stripe's rate)", "payments.queued", s.payments.queued),
    figure("Stripe 429s", "payments.rate_limited", s.payments.rate_limited),
  );
  renderPaymentRate(s, pacing);
  $("rejection-figs").replaceChildren(
    ...Object.entries(q.counters)
      .filter(([k]) => k !== "queued")
      .map(([k, v]) => figure(TURNED_AWAY[k] ?? k.replaceAll("_", " "), `queue.counters.${k}`, v)),
  );

  // Actions: what the sale's state allows; the settings' fields follow it unless being edited.
  const closed = sale.status === "closed";
  $("pause").hidden = sale.status === "paused" || closed;
  $("resume").hidden = sale.status !== "paused";
  for (const id of ["close", "restock-submit", "admission-submit"]) $(id).disabled = closed;
  for (const [id, v] of [
    ["rate", q.admission_rate],
    ["max-active", q.max_active],
  ]) {
    const input = $(id);
    if (document.activeElement !== input && input.dataset.dirty !== "true") input.value = String(v);
  }
}

/**
 * Asks in a modal dialog; with `typed`, the operator must type it (the sale id) to confirm.
 * @param {{ title: string, text: string, ok: string, typed?: string }} o
 */
function confirmed({ title, text, ok, typed }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  const input = $("confirm-input");
  $("confirm-typed").hidden = !typed;
  input.value = "";
  $("confirm-expected").textContent = typed ?? "";
  const check = () => ($("confirm-ok").disabled = Boolean(typed) && input.value.trim() !== typed);
  input.oninput = check;
  check();
  dialog.returnValue = "";
  dialog.showModal();
  if (typed) input.focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

/**
 * Wires the action buttons and forms for the sale shown (`current()` is its id); `done(message)`
 * reports and refreshes, `failed(error)` shows the API's refusal.
 */
export function wireActions({ current, done, failed }) {
  const act = async (what, call) => {
    try {
      await body(call);
      await done(what);
    } catch (e) {
      failed(e);
    }
  };
  $("pause").addEventListener("click", () => act(`Paused ${current()}: claims are refused until you resume.`, (a) => a.pause(current())));
  $("resume").addEventListener("click", () => act(`Resumed ${current()}.`, (a) => a.resume(current())));
  $("close").addEventListener("click", async () => {
    const id = current();
    const yes = await confirmed({
      title: `Close ${id} for good?`,
      text: "Shoppers can no longer claim, and a closed sale cannot be reopened. Holds already made can still be paid.",
      ok: "Close the sale",
      typed: id,
    });
    if (yes) await act(`Closed ${id}.`, (a) => a.close(id));
  });
  $("restock-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = current();
    const qty = Number($("restock-qty").value);
    const yes = await confirmed({
      title: `Add ${n(qty)} units to ${id}?`,
      text: "They go on sale at once. Stock cannot be taken back out.",
      ok: `Add ${n(qty)} units`,
    });
    if (yes) await act(`Added ${n(qty)} units to ${id}.`, (a) => a.restock(id, qty));
    $("restock-qty").value = "";
  });
  for (const id of ["rate", "max-active"]) $(id).addEventListener("input", (e) => (e.target.dataset.dirty = "true"));
  $("admission-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const patch = { admission_rate: Number($("rate").value), max_active: Number($("max-active").value) };
    await act(`Admission set to ${n(patch.admission_rate)} per second, at most ${n(patch.max_active)} active.`, (a) =>
      a.update(current(), patch),
    );
    for (const f of ["rate", "max-active"]) delete $(f).dataset.dirty;
  });
}
