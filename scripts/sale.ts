#!/usr/bin/env -S npx tsx
/**
 * The operator's CLI: `npm run sale -- <command> …`. It calls the admin API with the admin token
 * and validates arguments with the server's own zod schemas first, so a typo is caught here with
 * the same message the server would give.
 *
 *   create <id> --name "Console X" --price 49900 --currency EUR --stock 100 [--starts-in 60 | --starts ISO]
 *          [--ends-in 3600 | --ends ISO] [--hold-ttl 300] [--limit 1] [--policy release|undersell|waitlist]
 *          [--rate 50] [--max-active 1000] [--pow 16] [--product-id console-x]   (or: create --file sale.json)
 *   update <id> [--hold-ttl s] [--rate n] [--max-active n] [--pow bits] [--ends ISO | --ends-in s]
 *   pause|resume|close <id>       restock <id> <qty>       reconcile <id>
 *   stats <id> [--watch [--every seconds]]  (live table with sold/held/available over time)
 * Common: --url (FLASHSALE_URL, default http://127.0.0.1:8787), --token (ADMIN_TOKEN, else .dev.vars), --json
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { type Answer, createClient, fetchTransport } from "../domain/client.js";
import { Restock, SaleInput, SaleUpdate } from "../domain/schemas/sale";

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: process.env.FLASHSALE_URL ?? "http://127.0.0.1:8787" },
    token: { type: "string" },
    json: { type: "boolean", default: false },
    file: { type: "string" },
    name: { type: "string" },
    "product-id": { type: "string" },
    price: { type: "string" },
    currency: { type: "string", default: "EUR" },
    stock: { type: "string" },
    starts: { type: "string" },
    "starts-in": { type: "string" },
    ends: { type: "string" },
    "ends-in": { type: "string" },
    "hold-ttl": { type: "string" },
    limit: { type: "string" },
    policy: { type: "string" },
    rate: { type: "string" },
    "max-active": { type: "string" },
    pow: { type: "string" },
    watch: { type: "boolean", default: false },
    every: { type: "string", default: "1" },
  },
});
const [command, id, arg] = positionals;

function adminToken(): string {
  if (o.token) return o.token;
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  for (const f of [".dev.vars", ".dev.vars.example"]) {
    const m = existsSync(f) && /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(f, "utf8"));
    if (m) return m[1]!.trim();
  }
  return die("no admin token: pass --token or set ADMIN_TOKEN");
}

function die(msg: string): never {
  console.error(`✗ ${msg}`);
  process.exit(1);
}

/** Validates with the server's schema; prints the same issues the API would answer with. */
function check<T extends z.ZodType>(schema: T, value: unknown): unknown {
  const r = schema.safeParse(value);
  if (!r.success) die(`invalid arguments:\n${z.prettifyError(r.error)}`);
  return value;
}

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const at = (iso: string | undefined, inS: string | undefined, fallbackS?: number) =>
  iso ?? (inS !== undefined ? new Date(Date.now() + Number(inS) * 1000).toISOString() : fallbackS !== undefined ? new Date(Date.now() + fallbackS * 1000).toISOString() : undefined);
const defined = (x: Record<string, unknown>) => Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined));

/** The operator's routes (domain/client.js), with the admin token (read when first needed). */
const admin = () => createClient({ transport: fetchTransport(o.url) }).admin(adminToken());

/** The answer's body; a refusal or an unreachable server ends the CLI with what went wrong. */
async function ok(send: () => Promise<Answer>): Promise<Record<string, any>> {
  let r: Answer;
  try {
    r = await send();
  } catch (e) {
    return die(`cannot reach ${o.url} (${String(e)}): is \`npm start\` running, or is --url right?`);
  }
  if (r.status < 200 || r.status >= 300) die(`${r.status} ${r.body.error ?? ""}: ${r.body.message ?? JSON.stringify(r.body)}`);
  return r.body;
}

function table(rows: [string, unknown][]) {
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

const money = (minor: number, currency: string) => new Intl.NumberFormat("en", { style: "currency", currency }).format(minor / 100);

function printSale(sale: Record<string, any>) {
  table([
    ["sale", `${sale.id} (${sale.status})`],
    ["product", `${sale.product.name} · ${money(sale.product.price, sale.product.currency)}`],
    ["stock", `${sale.available} available · ${sale.held} held · of ${sale.stock_total}`],
    ["window", `${sale.starts_at} → ${sale.ends_at}`],
    ["policy", `${sale.release_policy}, ${sale.per_user_limit} per shopper, ${sale.hold_ttl_s} s to pay, PoW ${sale.pow_difficulty} bits`],
  ]);
}

const BARS = "▁▂▃▄▅▆▇█";
const spark = (xs: number[], max: number) => xs.map((x) => BARS[Math.min(7, Math.round((x / Math.max(1, max)) * 7))]).join("");

function printStats(s: Record<string, any>, history?: { sold: number[]; held: number[]; available: number[] }) {
  const st = s.stock;
  const rows: [string, unknown][] = [
    ["sale", `${s.sale.id} (${s.sale.status}) · ${s.sale.product.name}`],
    ["stock", `${st.available} available · ${st.held} held · ${st.sold} sold · ${st.withdrawn} withdrawn · of ${st.stock_total}`],
    ["holds", Object.entries(s.holds).map(([k, v]) => `${k} ${v}`).join(" · ")],
    ["refunds", `${s.refunds.refunded} refunded · ${s.refunds.pending} pending`],
    ["queue", `${s.queue.in_line} in line · ${s.queue.waiting} waiting · ${s.queue.admitted} admitted · ${s.queue.active} active (max ${s.queue.max_active}, ${s.queue.admission_rate}/s)`],
    ["rejected", Object.entries(s.queue.counters).filter(([k]) => k !== "queued").map(([k, v]) => `${k.replace("rejected_", "")} ${v}`).join(" · ")],
    ["outbox", `${s.outbox.backlog} waiting · ${s.outbox.batches} batches · max ${s.outbox.max_batch} · last lag ${s.outbox.last_lag_ms} ms · ${s.outbox.failures} failures`],
    ["dead letters", s.outbox.dead_letters === 0 ? "none" : `${s.outbox.dead_letters} set aside (D1 refused them; fix, then \`reconcile\`) · last ${s.outbox.last_dead_letter?.id}: ${s.outbox.last_dead_letter?.error}`],
    ["D1", "error" in s.d1 ? s.d1.error : `${s.d1.orders} orders · ${s.d1.units} units · ${money(s.d1.revenue, s.sale.product.currency)} · ${s.d1.refunds} refunds`],
    ["expiry", `${s.expiry.expired} expired by alarm · late mean ${s.expiry.mean_late_ms} ms, max ${s.expiry.max_late_ms} ms`],
  ];
  if (history) {
    const max = st.stock_total;
    rows.push(["sold", spark(history.sold, max)], ["held", spark(history.held, max)], ["available", spark(history.available, max)]);
  }
  table(rows);
}

const need = (what: string | undefined, usage: string) => what ?? die(`usage: npm run sale -- ${usage}`);
const out = (json: unknown, human: () => void) => (o.json ? console.log(JSON.stringify(json, null, 2)) : human());

switch (command) {
  case "create": {
    const body = o.file
      ? JSON.parse(readFileSync(o.file, "utf8"))
      : defined({
          id: need(id, "create <id> --name … --price … --stock …"),
          product: { id: o["product-id"] ?? id, name: o.name, price: num(o.price), currency: o.currency },
          stock_total: num(o.stock),
          starts_at: at(o.starts, o["starts-in"], 0),
          ends_at: at(o.ends, o["ends-in"], 86_400),
          hold_ttl_s: num(o["hold-ttl"]),
          per_user_limit: num(o.limit),
          release_policy: o.policy,
          admission_rate: num(o.rate),
          max_active: num(o["max-active"]),
          pow_difficulty: num(o.pow),
        });
    const r = await ok(() => admin().createSale(check(SaleInput, body)));
    out(r, () => {
      console.log(r.created ? "✓ created" : "✓ already exists with this configuration");
      printSale(r.sale);
    });
    break;
  }
  case "update": {
    const body = defined({ hold_ttl_s: num(o["hold-ttl"]), admission_rate: num(o.rate), max_active: num(o["max-active"]), pow_difficulty: num(o.pow), ends_at: at(o.ends, o["ends-in"]) });
    const r = await ok(() => admin().update(need(id, "update <id> --rate …"), check(SaleUpdate, body)));
    out(r, () => printSale(r.sale));
    break;
  }
  case "pause":
  case "resume":
  case "close": {
    const r = await ok(() => admin()[command](need(id, `${command} <id>`)));
    out(r, () => printSale(r.sale));
    break;
  }
  case "restock": {
    const { qty } = check(Restock, { qty: num(need(arg, "restock <id> <qty>")) }) as { qty: number };
    const r = await ok(() => admin().restock(need(id, "restock <id> <qty>"), qty));
    out(r, () => printSale(r.sale));
    break;
  }
  case "reconcile": {
    const r = await ok(() => admin().reconcile(need(id, "reconcile <id>")));
    out(r, () => {
      const { orders, refunds, re_enqueued, dead_letters_resent } = r.report;
      table([
        ["orders", `${orders.ledger} in the object · ${orders.d1} in D1 · ${orders.in_outbox} on their way · ${orders.missing.length} missing · ${orders.unexpected.length} unexpected`],
        ["refunds", `${refunds.ledger} in the object · ${refunds.d1} in D1 · ${refunds.in_outbox} on their way · ${refunds.missing.length} missing · ${refunds.unexpected.length} unexpected`],
        ["re-flushed", re_enqueued],
        ["dead letters resent", dead_letters_resent],
      ]);
      for (const m of [...orders.missing, ...refunds.missing]) console.log(`  missing in D1 (re-flushed): ${m}`);
      for (const u of [...orders.unexpected, ...refunds.unexpected]) console.log(`  in D1 but not in the object: ${u}`);
    });
    break;
  }
  case "stats": {
    const sale = need(id, "stats <id> [--watch [--every seconds]]");
    if (!o.watch) {
      const r = await ok(() => admin().stats(sale));
      out(r, () => printStats(r));
      break;
    }
    const every = Math.max(0.2, Number(o.every) || 1) * 1000;
    const history = { sold: [] as number[], held: [] as number[], available: [] as number[] };
    const a = admin();
    for (;;) {
      const r = await ok(() => a.stats(sale));
      for (const k of ["sold", "held", "available"] as const) {
        history[k].push(r.stock[k]);
        if (history[k].length > 60) history[k].shift();
      }
      if (o.json) console.log(JSON.stringify({ t: new Date().toISOString(), ...r.stock }));
      else {
        process.stdout.write("\x1b[2J\x1b[H");
        console.log(`flashsale · ${new Date().toLocaleTimeString()} · every ${every / 1000} s (Ctrl-C to stop)\n`);
        printStats(r, history);
      }
      await new Promise((res) => setTimeout(res, every));
    }
  }
  default:
    die(`unknown command ${command ?? "(none)"}: create | update | pause | resume | close | restock | stats | reconcile (see the comment at the top of scripts/sale.ts)`);
}
