// `npm run rehearse` options: parsed, checked and turned into the run's settings (`opts`).
import { parseArgs } from "node:util";

// Short payment timings so that unknown outcomes, give-ups and late charges happen within the
// run (wrangler.toml has 5 s / 2 s / 900 s). A 2-core box under load answers slower than you'd
// think: below ~2 s the engine's own timeout starts firing on plain successful charges.
// PAY_GIVE_UP_S must stay well above what a payment takes on an overloaded local runtime (several
// seconds at 5000 shoppers): below that, charges that did succeed are released and refunded.
export const PAY = { PAY_TIMEOUT_MS: 3000, PAY_RETRY_MS: 1000, PAY_GIVE_UP_S: 20 };

export function help() {
  return `npm run rehearse -- [options]
  --shoppers N (5000)  --stock N (shoppers/10)  --arrival-s S (2)  --open-after-s S (1)
  --abandon R (0.1)  --cancel R (0.05)  --decline R (0.05)  --timeout R (0.02)  --greedy R (0.05)
  --retries N (2, claims after "sold out for now")  --concurrency N (64 requests in flight)
  --poll-cap-s S (2)  --think-ms MS (1000)  --hold-ttl-s S (5)  --pow BITS (8)
  --admission-rate R (max(100, shoppers/10))  --max-active N  --pass-ttl-s S (120)  --policy release|undersell|waitlist
  --admit-per-unit F (the sale's default, 1: each admitted shopper's unit waits for them; up to 2)
  --lottery-s S (the sale's default, 10: arrivals this long after the opening join the pre-queue's draw)
  --compare-admit-per-unit F (after the sale, the same crowd again against a sale with admit_per_unit F, e.g. 2:
     the price of fairness, as sell-out times measured in one run)
  --per-user-limit N (1)  --shards N (1: the stock split over N product objects, 1-64)
  --fault d1|restart|gateway (repeatable)  --d1-down-ms MS (8000)  --late-ms MS
  --same-ip (all shoppers from one address: the per-IP limit bites)
  --identity account|anonymous (account: each shopper signs in as their own shop account; anonymous: each
     honest shopper from its own network, the sale's network_cap 1)  --shop-secret S (with --url, account mode:
     the target's SHOP_IDENTITY_SECRET; default $SHOP_IDENTITY_SECRET)
  --prequeue N (honest shoppers who arrive before the opening, the rest after it; default: the burst's share)
  --bots N (0)  --bot-sessions M (20)  --bot-accounts A (account mode: 1, all M sessions of one account; A: bought
     accounts): each bot is one network with M sessions and a browser User-Agent, joins before and right after
     the opening, polls fast (paced under the per-network limit) and claims with every session
  --gateway simulated|stripe-fake (stripe-fake: GATEWAY=stripe against the fake Stripe, served locally, with 5xx,
     timeouts, 429s, 3-D Secure, late successes, and webhooks late, twice, out of order and forged)
  --three-ds R (0.1, stripe-fake: payments that need 3-D Secure)
  --stripe-rate N (25, stripe-fake: the fake's rate limit, requests/s per endpoint and for the account, a
     sandbox's; the Worker's pacer is set to the same: STRIPE_RATE_ACCOUNT and STRIPE_RATE_ENDPOINT)
  --shop-webhook off|fake|never (off; fake: the shop's order events as signed webhooks to a fake shop served locally,
     answering 5xx, timeouts, slow and after a timeout; checked against D1 row by row. never: a shop that never answers)
  --pow-solver node|webcrypto (node: pow.js's search with sync hashing, ~20x cheaper; webcrypto: pow.js solve())
  --url URL --admin-token T (target a running deployment; it needs ALLOW_FAULTS for faults)
  --port N  --keep (keep the temp state dir)  --out FILE`;
}

/** A bad command line: `readOptions` prints it with the help and exits 2. */
export class UsageError extends Error {}

function usage(msg) {
  throw new UsageError(msg);
}

/** The command line as `{ a }` (raw values) and `{ opts }` (the run's settings); exits on --help or a bad value. */
export function readOptions(args = process.argv.slice(2)) {
  try {
    const parsed = parseOptions(args);
    if (!parsed.help) return parsed;
    console.log(help());
    process.exit(0);
  } catch (e) {
    if (!(e instanceof UsageError) && !e?.code?.startsWith?.("ERR_PARSE_ARGS")) throw e;
    console.error(`rehearse: ${e.message}\n\n${help()}`);
    process.exit(2);
  }
}

/** `readOptions` without the exits: `{ help: true }`, `{ a, opts }`, or a thrown error (a UsageError, parseArgs' own). */
export function parseOptions(args) {
  const { values: a } = parseArgs({
    args,
    options: {
      shoppers: { type: "string", default: "5000" },
      stock: { type: "string" },
      "arrival-s": { type: "string", default: "2" },
      "open-after-s": { type: "string", default: "1" },
      abandon: { type: "string", default: "0.1" },
      cancel: { type: "string", default: "0.05" },
      decline: { type: "string", default: "0.05" },
      timeout: { type: "string", default: "0.02" },
      greedy: { type: "string", default: "0.05" },
      retries: { type: "string", default: "2" },
      // 64, not 200: locally one workerd thread runs the edge and every object, and with 200 requests
      // interleaving each await waits behind all of them; payments then outlive PAY_TIMEOUT_MS.
      concurrency: { type: "string", default: "64" },
      "poll-cap-s": { type: "string", default: "2" },
      "think-ms": { type: "string", default: "1000" },
      "hold-ttl-s": { type: "string", default: "5" },
      pow: { type: "string", default: "8" },
      "admission-rate": { type: "string" },
      "max-active": { type: "string" },
      "pass-ttl-s": { type: "string" },
      "admit-per-unit": { type: "string" },
      "lottery-s": { type: "string" },
      "compare-admit-per-unit": { type: "string" },
      policy: { type: "string", default: "release" },
      "per-user-limit": { type: "string", default: "1" },
      shards: { type: "string", default: "1" },
      fault: { type: "string", multiple: true, default: [] },
      "d1-down-ms": { type: "string", default: "8000" },
      "late-ms": { type: "string" },
      "pass-timeout-s": { type: "string", default: "120" },
      "comeback-s": { type: "string", default: "60" },
      "settle-timeout-s": { type: "string", default: "120" },
      "same-ip": { type: "boolean", default: false },
      identity: { type: "string", default: "account" },
      "shop-secret": { type: "string" },
      prequeue: { type: "string" },
      bots: { type: "string", default: "0" },
      "bot-sessions": { type: "string", default: "20" },
      "bot-accounts": { type: "string" },
      gateway: { type: "string", default: "simulated" },
      "three-ds": { type: "string", default: "0.1" },
      "stripe-rate": { type: "string", default: "25" },
      "shop-webhook": { type: "string", default: "off" },
      "pow-solver": { type: "string", default: "node" },
      url: { type: "string" },
      "admin-token": { type: "string" },
      port: { type: "string" },
      keep: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (a.help) return { help: true };

  const num = (k) => {
    const v = Number(a[k]);
    if (!Number.isFinite(v) || v < 0) usage(`--${k} must be a non-negative number (got ${a[k]})`);
    return v;
  };
  const shoppersN = Math.max(1, Math.floor(num("shoppers")));
  const opts = {
    shoppers: shoppersN,
    stock: a.stock ? Math.max(1, Math.floor(num("stock"))) : Math.max(1, Math.round(shoppersN / 10)),
    arrivalS: num("arrival-s"),
    openAfterS: num("open-after-s"),
    abandon: num("abandon"),
    cancel: num("cancel"),
    decline: num("decline"),
    timeout: num("timeout"),
    greedy: num("greedy"),
    retries: Math.floor(num("retries")),
    concurrency: Math.max(1, Math.floor(num("concurrency"))),
    pollCapS: Math.max(0.25, num("poll-cap-s")),
    thinkMs: num("think-ms"),
    holdTtlS: Math.max(1, Math.floor(num("hold-ttl-s"))),
    pow: Math.floor(num("pow")),
    admissionRate: a["admission-rate"] ? num("admission-rate") : Math.max(100, Math.ceil(shoppersN / 10)),
    maxActive: a["max-active"] ? Math.floor(num("max-active")) : Math.max(1000, shoppersN),
    passTtlS: a["pass-ttl-s"] ? Math.max(1, Math.floor(num("pass-ttl-s"))) : undefined,
    admitPerUnit: a["admit-per-unit"] === undefined ? undefined : num("admit-per-unit"),
    lotteryS: a["lottery-s"] === undefined ? undefined : Math.floor(num("lottery-s")),
    compareAdmitPerUnit: a["compare-admit-per-unit"] === undefined ? null : num("compare-admit-per-unit"),
    policy: a.policy,
    perUserLimit: Math.max(1, Math.floor(num("per-user-limit"))),
    shards: Math.floor(num("shards")),
    faults: new Set(
      a.fault
        .flatMap((f) => f.split(","))
        .map((f) => f.trim())
        .filter(Boolean),
    ),
    d1DownMs: Math.floor(num("d1-down-ms")),
    passTimeoutS: num("pass-timeout-s"),
    comebackS: num("comeback-s"),
    settleTimeoutS: num("settle-timeout-s"),
    sameIp: a["same-ip"],
    identity: a.identity,
    shopSecret: a["shop-secret"] ?? process.env.SHOP_IDENTITY_SECRET ?? null,
    prequeue: a.prequeue === undefined ? null : Math.floor(num("prequeue")),
    bots: Math.floor(num("bots")),
    botSessions: Math.max(1, Math.floor(num("bot-sessions"))),
    botAccounts: a["bot-accounts"] === undefined ? 1 : Math.max(1, Math.floor(num("bot-accounts"))),
    paymentMethod: "tok_visa",
    gateway: a.gateway,
    threeDs: num("three-ds"),
    stripeRate: Math.max(1, Math.floor(num("stripe-rate"))),
    shopWebhook: a["shop-webhook"],
  };
  // A late success lands after the payment window has given up (PAY_GIVE_UP_S): it must be refunded.
  opts.lateMs = a["late-ms"] ? Math.floor(num("late-ms")) : opts.faults.has("gateway") ? PAY.PAY_GIVE_UP_S * 1000 + 2000 : 2000;
  opts.payPollS = PAY.PAY_GIVE_UP_S + opts.lateMs / 1000 + 15;
  for (const [k, v] of [
    ["admit-per-unit", opts.admitPerUnit],
    ["compare-admit-per-unit", opts.compareAdmitPerUnit],
  ]) {
    if (v !== undefined && v !== null && (Number(v) < 0.1 || Number(v) > 2)) usage(`--${k} is 0.1-2`);
  }
  for (const f of opts.faults) if (!["d1", "restart", "gateway"].includes(f)) usage(`unknown --fault ${f} (d1, restart, gateway)`);
  if (!["release", "undersell", "waitlist"].includes(opts.policy)) usage("--policy is release, undersell or waitlist");
  if (opts.shards < 1 || opts.shards > 64) usage("--shards is 1-64");
  if (opts.shards > 1 && opts.policy === "waitlist")
    usage("--policy waitlist needs one shard (a waitlist's order cannot be kept across shards)");
  if (!["simulated", "stripe-fake"].includes(opts.gateway)) usage("--gateway is simulated or stripe-fake");
  if (!["off", "fake", "never"].includes(opts.shopWebhook)) usage("--shop-webhook is off, fake or never");
  if (opts.shopWebhook !== "off" && a.url) usage("--shop-webhook starts its own fake shop (not with --url)");
  if (opts.gateway === "stripe-fake" && a.url) usage("--gateway stripe-fake starts its own server (not with --url)");
  if (opts.abandon + opts.cancel > 1) usage("--abandon + --cancel must be ≤ 1");
  if (a.url && !a["admin-token"]) usage("--url needs --admin-token");
  if (!["account", "anonymous"].includes(opts.identity)) usage("--identity is account or anonymous");
  if (opts.identity === "account" && a.url && !opts.shopSecret)
    usage("--identity account with --url needs --shop-secret (the target's SHOP_IDENTITY_SECRET)");
  if (a["bot-accounts"] !== undefined && opts.identity !== "account")
    usage("--bot-accounts is for --identity account (an anonymous bot is its network)");
  if (opts.botAccounts > opts.botSessions)
    usage(`--bot-accounts (${opts.botAccounts}) must be ≤ --bot-sessions (${opts.botSessions}): each account needs a session`);
  if (opts.prequeue !== null && opts.prequeue > opts.shoppers)
    usage(`--prequeue (${opts.prequeue}) must be ≤ --shoppers (${opts.shoppers})`);
  if ((opts.prequeue || opts.bots) && opts.openAfterS < 0.5)
    usage("--prequeue and --bots need --open-after-s ≥ 0.5 (time to join before the opening)");
  return { a, opts };
}
