#!/usr/bin/env -S npx tsx
/**
 * The operator's CLI: `npm run sale -- <command> …` or `npx flashsale <command> …` (bin/flashsale.mjs).
 * `--help` on the CLI and on every command says what it does, with examples. Arguments are
 * checked with the server's own zod schemas before anything is sent; every mistake is one line
 * saying what is wrong and what would be right (exit code 2), every refusal or unreachable
 * server one line too (exit code 1). The admin routes are called through domain/client.js.
 */
import { Command, CommanderError, Option } from "commander";
import { createInterface } from "node:readline/promises";
import { type Answer, createClient, fetchTransport } from "../domain/client.js";
import { now as clockNow } from "../domain/clock";
import { paymentWarning } from "../domain/payment-rate.js";
import { Restock, SaleInput, SaleUpdate } from "../domain/schemas/sale";
import { accessHeaders, adminToken, check, defined, Failure, instant, number, readJson, UsageError } from "./lib/sale-args";
import { type History, printList, printReconcile, printSale, printStats } from "./lib/sale-print";

const DEFAULT_URL = "http://127.0.0.1:8787";
type Globals = { url: string; token?: string; json: boolean; accessId?: string; accessSecret?: string };

const program = new Command("flashsale")
  .description(
    "Run a flash sale: create it, steer it while it runs, watch it, and check it against D1.\nEvery command calls the admin API of a running flashsale (`npm start` locally).",
  )
  .addOption(new Option("--url <url>", "the flashsale to talk to").env("FLASHSALE_URL").default(DEFAULT_URL))
  .addOption(new Option("--token <token>", "the admin token (default: ADMIN_TOKEN, else the project's .dev.vars)"))
  .addOption(
    new Option("--access-id <id>", "a Cloudflare Access service token's client id (admin behind Access)").env("CF_ACCESS_CLIENT_ID"),
  )
  .addOption(new Option("--access-secret <secret>", "…and its client secret").env("CF_ACCESS_CLIENT_SECRET"))
  .option("--json", "print the API's answers as JSON (for scripts)", false)
  .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
  .showSuggestionAfterError(true)
  .exitOverride()
  .addHelpText(
    "after",
    `
Examples:
  $ npm run sale -- create drop-1 --name "Console X" --price 49900 --stock 100 --starts-in 600 --ends-in 7200
  $ npm run sale -- list
  $ npm run sale -- stats drop-1 --watch
  $ npm run sale -- update drop-1 --rate 200
  $ npm run sale -- pause drop-1
  $ npx flashsale close drop-1 --yes --url https://shop.example.com

The live dashboard (the same figures, with charts and these actions) is at <url>/admin/.
Run \`<command> --help\` for a command's options, e.g. \`npm run sale -- create --help\`.`,
  );

/** Every error is one line: commander's own (its "Did you mean" joined on, and the usage), and ours. */
const oneLine = (msg: string, usage: string) =>
  `✗ ${msg
    .replace(/^error: /, "")
    .trim()
    .replace(/\n+/g, " ")} (${usage})\n`;
program.configureOutput({ outputError: (msg, write) => write(oneLine(msg, "see `flashsale --help`")) });

const globals = (cmd: Command) => cmd.optsWithGlobals<Globals>();

/** The operator's routes on the chosen server, with the token or the Access service token. */
function admin(cmd: Command) {
  const g = globals(cmd);
  const access = accessHeaders(g.accessId, g.accessSecret);
  const token = adminToken(g.token);
  if (!token && !access["cf-access-client-id"]) {
    throw new UsageError(
      "no admin token: pass --token, set ADMIN_TOKEN, or run from the project directory after `npm start` (it writes .dev.vars)",
    );
  }
  return createClient({ transport: fetchTransport(g.url), headers: access }).admin(token);
}

type Admin = ReturnType<typeof admin>;

/** The answer's body; a refusal or an unreachable server is one line saying what went wrong. */
async function ok(cmd: Command, send: (a: Admin) => Promise<Answer>, a: Admin = admin(cmd)): Promise<Record<string, any>> {
  const { url } = globals(cmd);
  let r: Answer;
  try {
    r = await send(a);
  } catch (e) {
    throw new Failure(`cannot reach ${url} (${(e as Error).cause ?? e}): is \`npm start\` running, or is --url right?`);
  }
  if (r.status >= 200 && r.status < 300) return r.body;
  const hint = r.status === 401 ? " (check --token or ADMIN_TOKEN)" : r.body.error === "bad_response" ? ` (is ${url} a flashsale?)` : "";
  throw new Failure(`${r.status} ${r.body.error ?? ""}: ${r.body.message ?? JSON.stringify(r.body)}${hint}`);
}

const out = (cmd: Command, json: unknown, human: () => void) => (globals(cmd).json ? console.log(JSON.stringify(json, null, 2)) : human());
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ npm run sale -- ${l}`).join("\n")}`;
const num = (flags: string, description: string, example: string) => new Option(flags, description).argParser(number(example));

program
  .command("list")
  .description("the sales, newest first, with their status and stock")
  .addHelpText("after", examples("list", "list --json"))
  .action(async (_o, cmd: Command) => {
    const r = await ok(cmd, (a) => a.list());
    out(cmd, r, () => printList(r as Parameters<typeof printList>[0]));
  });

program
  .command("create")
  .argument("[id]", "the sale's id: 1-63 lowercase letters, digits or dashes")
  .description("create a sale (idempotent: the same configuration again is fine; another one is refused)")
  .option("--name <name>", "the product's name (required)")
  .addOption(num("--price <minor>", "price in minor units, e.g. 49900 for 499.00 (required)", "--price 49900"))
  .option("--currency <code>", "ISO 4217 currency", "EUR")
  .addOption(num("--stock <units>", "units on sale (required)", "--stock 100"))
  .option("--product-id <id>", "the product's id (default: the sale id)")
  .addOption(new Option("--starts <iso>", "opening time, ISO 8601 with a zone").conflicts("startsIn"))
  .addOption(num("--starts-in <s>", "…or seconds from now (default: now)", "--starts-in 600"))
  .addOption(new Option("--ends <iso>", "closing time, ISO 8601 with a zone").conflicts("endsIn"))
  .addOption(num("--ends-in <s>", "…or seconds from now (default: a day)", "--ends-in 7200"))
  .addOption(num("--hold-ttl <s>", "seconds a shopper has to pay (default 300)", "--hold-ttl 300"))
  .addOption(num("--limit <units>", "units per shopper (default 1)", "--limit 1"))
  .addOption(
    new Option("--policy <policy>", "what an unpaid hold's units become (default release)").choices(["release", "undersell", "waitlist"]),
  )
  .addOption(num("--rate <n>", "shoppers admitted from the line per second (default 50)", "--rate 50"))
  .addOption(num("--max-active <n>", "admitted shoppers at once, at most (default 1000)", "--max-active 1000"))
  .addOption(
    num(
      "--admit-per-unit <f>",
      "shoppers admitted per unit left (default 1: each admitted shopper's unit waits for them; up to 2, a faster sell-out for a race)",
      "--admit-per-unit 1.5",
    ),
  )
  .addOption(num("--lottery <s>", "arrivals this many seconds after the opening join the pre-queue's draw (default 10)", "--lottery 10"))
  .addOption(num("--pow <bits>", "proof-of-work difficulty, 0-28 (default 16)", "--pow 16"))
  .addOption(
    num("--shards <n>", "split the stock over n product objects, 1-64 (default 1; fixed once created; not with waitlist)", "--shards 8"),
  )
  .addOption(
    new Option("--file <sale.json>", "the whole configuration as JSON (the API's body) instead of flags").conflicts([
      "name",
      "price",
      "stock",
    ]),
  )
  .addHelpText(
    "after",
    `
Release policies: release (an unpaid hold's units go back on sale), undersell (they are withdrawn),
waitlist (sold out ⇒ a waitlist; freed units are offered to the next shopper in it).
Shards: one product object serves about a thousand claims a second; --shards n splits the stock
over n of them for a hotter drop (docs/scaling.md).
${examples(
  'create drop-1 --name "Console X" --price 49900 --stock 100 --starts-in 600 --ends-in 7200',
  'create drop-2 --name "Tickets" --price 2500 --currency GBP --stock 5000 --starts 2026-12-01T10:00:00Z --ends-in 3600 --rate 200 --max-active 5000',
  'create drop-3 --name "Sneaker" --price 18000 --stock 100000 --starts-in 3600 --ends-in 7200 --rate 5000 --max-active 200000 --shards 16',
  "create --file sale.json",
)}`,
  )
  .action(async (id: string | undefined, o: Record<string, any>, cmd: Command) => {
    let body: unknown;
    const now = clockNow();
    if (o.file) {
      body = readJson(o.file);
      check(SaleInput, body, o.file);
    } else {
      if (!id)
        throw new UsageError("create needs the sale's id: `create drop-1 --name … --price … --stock …` (or `create --file sale.json`)");
      body = defined({
        id,
        product: { id: o.productId ?? id, name: o.name, price: o.price, currency: o.currency },
        stock_total: o.stock,
        starts_at: instant(now, o.starts, o.startsIn, 0),
        ends_at: instant(now, o.ends, o.endsIn, 86_400),
        hold_ttl_s: o.holdTtl,
        per_user_limit: o.limit,
        release_policy: o.policy,
        admission_rate: o.rate,
        max_active: o.maxActive,
        admit_per_unit: o.admitPerUnit,
        lottery_s: o.lottery,
        pow_difficulty: o.pow,
        shards: o.shards,
      });
      check(SaleInput, body);
    }
    const r = await ok(cmd, (a) => a.createSale(body));
    // Can the Stripe account take this sale's payments within a hold window? (the pacer's rates)
    const pacing = await admin(cmd)
      .payments()
      .catch(() => null);
    const warning =
      pacing?.status === 200
        ? paymentWarning({
            stock: r.sale.stock_total,
            hold_ttl_s: r.sale.hold_ttl_s,
            rates: pacing.body.rates,
            headroom: pacing.body.headroom,
          })
        : null;
    out(cmd, { ...r, ...(warning && { payment_warning: warning }) }, () => {
      console.log(r.created ? "✓ created" : "✓ already exists with this configuration");
      printSale(r.sale);
      if (warning) console.log(`\n⚠ ${warning}`);
    });
  });

program
  .command("update")
  .argument("<id>", "the sale")
  .description("change a running sale's settings (they apply at once)")
  .addOption(num("--rate <n>", "shoppers admitted per second", "--rate 200"))
  .addOption(num("--max-active <n>", "admitted shoppers at once, at most", "--max-active 2000"))
  .addOption(num("--admit-per-unit <f>", "shoppers admitted per unit left (1-2)", "--admit-per-unit 1.5"))
  .addOption(num("--hold-ttl <s>", "seconds a shopper has to pay (new holds)", "--hold-ttl 300"))
  .addOption(num("--pow <bits>", "proof-of-work difficulty (new challenges)", "--pow 18"))
  .addOption(new Option("--ends <iso>", "closing time, ISO 8601 with a zone").conflicts("endsIn"))
  .addOption(num("--ends-in <s>", "…or seconds from now", "--ends-in 1800"))
  .addHelpText("after", examples("update drop-1 --rate 200", "update drop-1 --max-active 5000 --ends-in 1800"))
  .action(async (id: string, o: Record<string, any>, cmd: Command) => {
    const body = defined({
      hold_ttl_s: o.holdTtl,
      admission_rate: o.rate,
      max_active: o.maxActive,
      admit_per_unit: o.admitPerUnit,
      pow_difficulty: o.pow,
      ends_at: instant(clockNow(), o.ends, o.endsIn),
    });
    if (Object.keys(body).length === 0)
      throw new UsageError(
        "nothing to update: give at least one of --rate, --max-active, --admit-per-unit, --hold-ttl, --pow, --ends/--ends-in",
      );
    check(SaleUpdate, body);
    const r = await ok(cmd, (a) => a.update(id, body));
    out(cmd, r, () => printSale(r.sale));
  });

const SWITCHES = {
  pause: "stop handing out holds (claims answer 425); holds already made stay, and can be paid",
  resume: "hand out holds again after a pause",
  close: "end the sale for good: it cannot be reopened (asks first; --yes for scripts)",
} as const;
for (const [action, what] of Object.entries(SWITCHES) as [keyof typeof SWITCHES, string][]) {
  const c = program.command(action).argument("<id>", "the sale").description(what);
  if (action === "close") c.option("--yes", "do not ask (scripts)");
  c.addHelpText("after", examples(`${action} drop-1${action === "close" ? " --yes" : ""}`)).action(
    async (id: string, o: { yes?: boolean }, cmd: Command) => {
      if (action === "close" && !o.yes) await confirmClose(id);
      const r = await ok(cmd, (a) => a[action](id));
      out(cmd, r, () => printSale(r.sale));
    },
  );
}

/** Closing cannot be undone: the operator types the sale's id (no terminal to ask: --yes is needed). */
async function confirmClose(id: string): Promise<void> {
  if (!process.stdin.isTTY) throw new UsageError(`close ends ${id} for good and there is no terminal to ask: add --yes`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const typed = (
    await rl.question(`Close ${id} for good? Shoppers can no longer claim and it cannot be reopened. Type the sale id to confirm: `)
  ).trim();
  rl.close();
  if (typed !== id) throw new Failure(`not closed (you typed ${JSON.stringify(typed)}, not ${id})`);
}

program
  .command("restock")
  .argument("<id>", "the sale")
  .argument("<qty>", "units to add", number("restock drop-1 20"))
  .description("add units to a sale (they go on sale at once; under waitlist, to the waitlist first)")
  .addHelpText("after", examples("restock drop-1 20"))
  .action(async (id: string, qty: number, _o, cmd: Command) => {
    check(Restock, { qty });
    const r = await ok(cmd, (a) => a.restock(id, qty));
    out(cmd, r, () => printSale(r.sale));
  });

program
  .command("stats")
  .argument("<id>", "the sale")
  .description("the sale's figures: stock, holds, line, rejections, outbox, D1, expiry")
  .option("--watch", "redraw every --every seconds, with the stock over time (Ctrl-C stops)")
  .addOption(num("--every <s>", "seconds between redraws (with --watch; at least 0.2)", "--every 2").default(1))
  .addHelpText("after", examples("stats drop-1", "stats drop-1 --watch --every 2", "stats drop-1 --json"))
  .action(async (id: string, o: { watch?: boolean; every: number }, cmd: Command) => {
    const a = admin(cmd);
    if (!o.watch) {
      const r = await ok(cmd, (x) => x.stats(id), a);
      return out(cmd, r, () => printStats(r));
    }
    const every = Math.max(0.2, o.every) * 1000;
    const history: History = { sold: [], held: [], available: [] };
    for (;;) {
      const r = await ok(cmd, (x) => x.stats(id), a);
      for (const k of ["sold", "held", "available"] as const) {
        history[k].push(r.stock[k]);
        if (history[k].length > 60) history[k].shift();
      }
      if (globals(cmd).json) console.log(JSON.stringify({ t: new Date(clockNow()).toISOString(), ...r.stock }));
      else {
        process.stdout.write("\x1b[2J\x1b[H");
        console.log(`flashsale · ${new Date(clockNow()).toLocaleTimeString()} · every ${every / 1000} s (Ctrl-C to stop)\n`);
        printStats(r, history);
      }
      await new Promise((res) => setTimeout(res, every));
    }
  });

program
  .command("reconcile")
  .argument("<id>", "the sale")
  .description("compare the sale's ledger with D1 and send D1 whatever it lacks")
  .addHelpText("after", examples("reconcile drop-1"))
  .action(async (id: string, _o, cmd: Command) => {
    const r = await ok(cmd, (a) => a.reconcile(id));
    out(cmd, r, () => printReconcile(r.report));
  });

// Nested: `events resend <id>` (the shop's order events, docs/events.md).
const events = program.command("events").description("the shop's order events: webhooks and the queue (docs/events.md)");
events
  .command("resend")
  .argument("<id>", "the sale")
  .description("send the sale's dead webhook events again (those the shop's endpoint did not take within SHOP_WEBHOOK_GIVE_UP_S)")
  .addHelpText("after", examples("events resend drop-1"))
  .action(async (id: string, _o, cmd: Command) => {
    const r = await ok(cmd, (a) => a.resendEvents(id));
    out(cmd, r, () =>
      console.log(
        r.resent === 0
          ? "nothing to resend: no dead webhook events"
          : `${r.resent} event(s) back in line; \`stats ${id}\` shows them delivered`,
      ),
    );
  });

for (const c of [...program.commands, ...events.commands]) {
  c.configureOutput({ outputError: (msg, write) => write(oneLine(msg, `usage: flashsale ${c.name()} ${c.usage()}; see --help`)) });
}

// No command: the help, on stdout.
if (process.argv.length <= 2) {
  program.outputHelp();
  process.exit(0);
}
try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2); // help, or a mistake commander has printed
  if (e instanceof UsageError || e instanceof Failure) {
    console.error(`✗ ${e.message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
  // A bug of ours: still one line (FLASHSALE_DEBUG=1 shows where).
  console.error(
    `✗ unexpected error: ${e instanceof Error ? e.message : String(e)}${process.env.FLASHSALE_DEBUG ? `\n${(e as Error)?.stack}` : " (FLASHSALE_DEBUG=1 shows where)"}`,
  );
  process.exit(1);
}
