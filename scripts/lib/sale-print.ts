// How the CLI prints the admin API's answers for people (`--json` prints them as they are).

export function table(rows: [string, unknown][]) {
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

export const money = (minor: number, currency: string) => new Intl.NumberFormat("en", { style: "currency", currency }).format(minor / 100);

export function printSale(sale: Record<string, any>) {
  table([
    ["sale", `${sale.id} (${sale.status})`],
    ["product", `${sale.product.name} · ${money(sale.product.price, sale.product.currency)}`],
    ["stock", `${sale.available} available · ${sale.held} held · of ${sale.stock_total}`],
    ["window", `${sale.starts_at} → ${sale.ends_at}`],
    ["policy", `${sale.release_policy}, ${sale.per_user_limit} per shopper, ${sale.hold_ttl_s} s to pay, PoW ${sale.pow_difficulty} bits`],
  ]);
}

/** `list`: one line per sale, newest first. */
export function printList(body: {
  sales: { sale: Record<string, any>; stock: Record<string, number>; created_at: string }[];
  total: number;
}) {
  if (body.sales.length === 0) {
    console.log("No sales yet: create one with `flashsale create <id> --name … --price … --stock …` (see `flashsale create --help`).");
    return;
  }
  const rows = body.sales.map(({ sale, stock }) => [
    sale.id,
    sale.status,
    `${stock.available}/${stock.stock_total} left · ${stock.held} held · ${stock.sold} sold${stock.withdrawn ? ` · ${stock.withdrawn} withdrawn` : ""}`,
    sale.product.name,
    `${sale.starts_at.slice(0, 16).replace("T", " ")} → ${sale.ends_at.slice(0, 16).replace("T", " ")} UTC`,
  ]);
  const head = ["SALE", "STATUS", "STOCK", "PRODUCT", "WINDOW"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join("  "));
  if (body.total > body.sales.length) console.log(`(the ${body.sales.length} newest of ${body.total})`);
}

const BARS = "▁▂▃▄▅▆▇█";
const spark = (xs: number[], max: number) => xs.map((x) => BARS[Math.min(7, Math.round((x / Math.max(1, max)) * 7))]).join("");

export type History = { sold: number[]; held: number[]; available: number[] };

/** The line's arrivals: the pre-queue, then arrivals per second (the curve), and the room's calls. */
function lineText(q: Record<string, any>): string {
  const arrivals: { t: string; n: number }[] = q.arrivals ?? [];
  const last = arrivals.slice(-30);
  const peak = Math.max(0, ...last.map((a) => a.n));
  const curve = last.length
    ? ` · arrivals/s ${spark(
        last.map((a) => a.n),
        peak,
      )} (peak ${peak}/s, last ${last.length} s)`
    : "";
  return `${q.prequeued ?? 0} before the opening${curve} · ${q.served?.reports ?? 0} edge reports, ${q.served?.watermarks ?? 0} watermark reads${q.served?.late ? ` · ${q.served.late} reported late (${q.served.late_held ?? 0} waiting for a unit now, ${q.served.late_over_cap ?? 0} admitted at once over the cap)` : ""}`;
}

/** The shop's order events: each pipe's state, and the dead letters to resend. */
function eventsText(e: Record<string, any> | undefined): string {
  if (!e || (!e.queue && !e.webhook)) return "off (no ORDER_EVENTS queue, no SHOP_WEBHOOK_URL)";
  const parts = [`${e.recorded} recorded`];
  if (e.queue) parts.push(`queue ${e.queue.delivered} sent · ${e.queue.pending} waiting · ${e.queue.failures} failures`);
  if (e.webhook) {
    parts.push(`webhook ${e.webhook.delivered} delivered · ${e.webhook.pending} waiting · ${e.webhook.failures} failures`);
    if (e.webhook.dead)
      parts.push(
        `${e.webhook.dead} DEAD (last ${e.webhook.last_dead?.id}: ${e.webhook.last_dead?.error}; \`events resend\` sends them again)`,
      );
  }
  return parts.join(" · ");
}

export function printStats(s: Record<string, any>, history?: History) {
  const st = s.stock;
  const rows: [string, unknown][] = [
    ["sale", `${s.sale.id} (${s.sale.status}) · ${s.sale.product.name}`],
    [
      "stock",
      `${st.available} available · ${st.held} held · ${st.sold} sold · ${st.withdrawn} withdrawn${st.in_transit ? ` · ${st.in_transit} in transit` : ""} · of ${st.stock_total}`,
    ],
    [
      "holds",
      Object.entries(s.holds)
        .map(([k, v]) => `${k} ${v}`)
        .join(" · "),
    ],
    ["refunds", `${s.refunds.refunded} refunded · ${s.refunds.pending} pending`],
    [
      "queue",
      `${s.queue.in_line} in line · ${s.queue.waiting} waiting · ${s.queue.admitted} admitted · ${s.queue.active} active (max ${s.queue.max_active}, ${s.queue.admission_rate}/s, ${s.queue.admit_per_unit} per unit left${s.queue.claimable?.sold_out ? ", sold out: the line is told" : ""})`,
    ],
    ["line", lineText(s.queue)],
    [
      "rejected",
      Object.entries(s.queue.counters)
        .filter(([k]) => k !== "queued")
        .map(([k, v]) => `${k.replace("rejected_", "")} ${v}`)
        .join(" · "),
    ],
    [
      "outbox",
      `${s.outbox.backlog} waiting · ${s.outbox.batches} batches · max ${s.outbox.max_batch} · last lag ${s.outbox.last_lag_ms} ms · ${s.outbox.failures} failures`,
    ],
    [
      "dead letters",
      s.outbox.dead_letters === 0
        ? "none"
        : `${s.outbox.dead_letters} set aside (D1 refused them; fix, then \`reconcile\`) · last ${s.outbox.last_dead_letter?.id}: ${s.outbox.last_dead_letter?.error}`,
    ],
    ["shop events", eventsText(s.events)],
    [
      "D1",
      "error" in s.d1
        ? s.d1.error
        : `${s.d1.orders} orders · ${s.d1.units} units · ${money(s.d1.revenue, s.sale.product.currency)} · ${s.d1.refunds} refunds`,
    ],
    ["expiry", `${s.expiry.expired} expired by alarm · late mean ${s.expiry.mean_late_ms} ms, max ${s.expiry.max_late_ms} ms`],
    ["payments", `${s.payments.queued} queued for their turn at Stripe · ${s.payments.rate_limited} answered 429 (rate limited)`],
  ];
  if (history) {
    const max = st.stock_total;
    rows.push(["sold", spark(history.sold, max)], ["held", spark(history.held, max)], ["available", spark(history.available, max)]);
  }
  table(rows);
  if (s.shards) printShards(s.shards);
}

/** A sharded sale: one line per shard (its stock, what it was given, what it gave and received). */
function printShards(shards: Record<string, any>[]) {
  console.log(`\n  ${shards.length} shards (stock_total = base − given + received; in transit = Σ given − Σ received)`);
  const head = ["SHARD", "AVAIL", "HELD", "SOLD", "WDRAWN", "TOTAL", "BASE", "GIVEN", "RECVD", "ASKING", "CLAIMS", "OUTBOX"];
  const rows = shards.map((r) =>
    [
      r.shard,
      r.stock.available,
      r.stock.held,
      r.stock.sold,
      r.stock.withdrawn,
      r.stock.stock_total,
      r.base,
      r.given,
      r.received,
      r.asking,
      r.served.claims,
      r.outbox.backlog,
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(`  ${r.map((c, i) => c.padStart(w[i]!)).join("  ")}`);
}

export function printReconcile(report: Record<string, any>) {
  const { orders, refunds, re_enqueued } = report;
  table([
    [
      "orders",
      `${orders.ledger} in the object · ${orders.d1} in D1 · ${orders.in_outbox} on their way · ${orders.missing.length} missing · ${orders.unexpected.length} unexpected`,
    ],
    [
      "refunds",
      `${refunds.ledger} in the object · ${refunds.d1} in D1 · ${refunds.in_outbox} on their way · ${refunds.missing.length} missing · ${refunds.unexpected.length} unexpected`,
    ],
    ["re-flushed", re_enqueued],
  ]);
  for (const m of [...orders.missing, ...refunds.missing]) console.log(`  missing in D1 (re-flushed): ${m}`);
  for (const u of [...orders.unexpected, ...refunds.unexpected]) console.log(`  in D1 but not in the object: ${u}`);
  for (const r of report.shards ?? []) {
    console.log(
      `  shard ${r.shard}: orders ${r.orders.ledger} in the object · ${r.orders.d1} in D1 · ${r.orders.missing.length} missing · refunds ${r.refunds.ledger}/${r.refunds.d1} · re-flushed ${r.re_enqueued}`,
    );
  }
}
