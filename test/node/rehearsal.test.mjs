// The rehearsal's Node-side parts that need no server (`npm run rehearse`): its options, the crowd's
// arrivals, the refusal rule that keeps a run that sold nothing from passing, and the fairness
// figures, checked on hand-made shoppers whose right answers are known.
import assert from "node:assert/strict";
import { test } from "node:test";
import { arrivalTimes } from "../../scripts/lib/crowd.mjs";
import { fairness } from "../../scripts/lib/fairness.mjs";
import { checkInvariants, unexpectedRefusals } from "../../scripts/lib/invariants.mjs";
import { parseOptions, UsageError } from "../../scripts/lib/rehearsal-options.mjs";

const opts = (...args) => parseOptions(args).opts;
const refused = (args, pattern) =>
  assert.throws(
    () => parseOptions(args),
    (/** @type {any} */ e) => (e instanceof UsageError || e.code?.startsWith("ERR_PARSE_ARGS")) && pattern.test(e.message),
  );

test("defaults: an account sale, no bots, the crowd's burst split by the opening", () => {
  const o = opts("--shoppers", "500", "--stock", "50");
  assert.equal(o.identity, "account");
  assert.equal(o.bots, 0);
  assert.equal(o.botSessions, 20);
  assert.equal(o.botAccounts, 1);
  assert.equal(o.prequeue, null);
  assert.equal(o.shoppers, 500);
  assert.equal(o.stock, 50);
  assert.deepEqual(parseOptions(["--help"]), { help: true });
});

test("issue 10's scenario parses to what it says", () => {
  const o = opts(
    "--shoppers",
    "360",
    "--prequeue",
    "60",
    "--open-after-s",
    "8",
    "--arrival-s",
    "14",
    "--bots",
    "30",
    "--bot-sessions",
    "20",
    "--stock",
    "50",
    "--admission-rate",
    "40",
    "--pow",
    "8",
    "--identity",
    "anonymous",
  );
  assert.deepEqual(
    {
      identity: o.identity,
      prequeue: o.prequeue,
      bots: o.bots,
      botSessions: o.botSessions,
      stock: o.stock,
      admissionRate: o.admissionRate,
      pow: o.pow,
    },
    { identity: "anonymous", prequeue: 60, bots: 30, botSessions: 20, stock: 50, admissionRate: 40, pow: 8 },
  );
  assert.equal(opts("--bots", "2", "--bot-sessions", "6", "--bot-accounts", "3").botAccounts, 3);
});

test("bad combinations are refused with the flag named, not run", () => {
  delete process.env.SHOP_IDENTITY_SECRET; // --shop-secret's default: not for this test
  refused(["--identity", "guest"], /--identity is account or anonymous/);
  refused(["--identity", "anonymous", "--bot-accounts", "2"], /--bot-accounts is for --identity account/);
  refused(["--bot-sessions", "4", "--bot-accounts", "5"], /--bot-accounts \(5\) must be ≤ --bot-sessions \(4\)/);
  refused(["--shoppers", "10", "--prequeue", "11"], /--prequeue \(11\) must be ≤ --shoppers \(10\)/);
  refused(["--bots", "3", "--open-after-s", "0"], /--open-after-s ≥ 0.5/);
  refused(["--bots=-1"], /--bots must be a non-negative number/);
  refused(["--url", "https://example.invalid", "--admin-token", "t"], /needs --shop-secret/);
  refused(["--no-such-flag"], /Unknown option '--no-such-flag'/);
  // With the shop's secret, a remote account sale is fine.
  assert.equal(opts("--url", "https://example.invalid", "--admin-token", "t", "--shop-secret", "s").shopSecret, "s");
});

test("arrivals: --prequeue N puts exactly N before the opening, the rest after it", () => {
  const o = opts("--shoppers", "360", "--prequeue", "60", "--open-after-s", "8", "--arrival-s", "14");
  const t = arrivalTimes(o);
  assert.equal(t.length, 360);
  assert.deepEqual(
    t,
    [...t].sort((x, y) => x - y),
    "in arrival order",
  );
  assert.equal(t.filter((x) => x < 8000).length, 60);
  assert.ok(
    t.every((x) => x < 8000 * 0.7 || (x >= 8000 && x <= 14000)),
    "early enough for the pre-queue, or within the burst after the opening",
  );
  // Without it: uniform over the burst, the opening inside it.
  const u = arrivalTimes(opts("--shoppers", "2000", "--arrival-s", "2", "--open-after-s", "1"));
  const before = u.filter((x) => x < 1000).length;
  assert.ok(before > 850 && before < 1150, `about half before the opening: ${before}`);
});

test("refusals: account_required and friends are unexpected; sold out, declines and retried 429/5xx are not", () => {
  assert.deepEqual(
    unexpectedRefusals({
      "claim 409 sold_out": 400,
      "pay 402 payment_declined": 3,
      "claim 503 bad_response": 9,
      "session 429 rate_limited": 2,
      "poll 0 network": 1,
    }),
    [],
  );
  assert.deepEqual(
    unexpectedRefusals({ "challenge 401 account_required": 500, "session 401 identity_invalid": 2, "claim 409 sold_out": 1 }),
    ["500× challenge 401 account_required", "2× session 401 identity_invalid"],
  );
});

/**
 * A shopper-shaped record as lib/shopper.mjs and lib/bots.mjs leave them.
 * @param {number} i
 * @param {{ identity?: string, bot?: number, prequeued?: boolean, joinedAt?: number | null, arriveAt?: number | null, admission?: any, outcome?: string, confirmed?: boolean }} [o]
 */
function rec(
  i,
  {
    identity = `acct:s${i}`,
    bot,
    prequeued = false,
    joinedAt = null,
    arriveAt = joinedAt,
    admission = null,
    outcome = "sold_out",
    confirmed = false,
  } = {},
) {
  return {
    i,
    identity,
    user: identity,
    ip: bot === undefined ? `10.0.0.${i}` : `172.16.0.${bot}`,
    ...(bot === undefined ? {} : { bot }),
    prequeued,
    joinedAt,
    arriveAt,
    place: admission,
    admission,
    outcome: confirmed ? "confirmed" : outcome,
    greedy: false,
    holds: confirmed ? [{ id: `h${i}`, created_at: (admission?.at ?? 0) + 100, final: "confirmed", end: { status: "confirmed" } }] : [],
  };
}

test("the invariants fail a sale that sold nothing: demand beyond stock must sell out, unexpected refusals fail", () => {
  const stats = {
    stock: { stock_total: 5, available: 5, held: 0, sold: 0, withdrawn: 0 },
    holds: { held: 0, pending: 0, confirmed: 0, expired: 0, cancelled: 0, declined: 0 },
    units: { confirmed: 0 },
    refunds: { pending: 0, refunded: 0 },
    outbox: { backlog: 0, oldest_age_ms: 0 },
    d1: { orders: 0, units: 0, refunds: 0, revenue: 0 },
  };
  const shoppers = Array.from({ length: 20 }, (_, i) => rec(i, { outcome: "error" }));
  const checks = checkInvariants({
    stats,
    peak: { soldPlusHeld: 0 },
    shoppers,
    ledger: [],
    d1: null,
    reconcile: null,
    settled: true,
    sale: { release_policy: "release", per_user_limit: 1, product: { price: 100 } },
    refusals: { "challenge 401 account_required": 20 },
  });
  const failed = checks.filter((k) => k.pass === false).map((k) => k.name);
  assert.ok(
    failed.some((n) => n.startsWith("sells out when demand exceeds stock")),
    failed.join("; "),
  );
  assert.ok(
    failed.some((n) => n.startsWith("no unexpected refusals")),
    failed.join("; "),
  );
  // Demand no larger than the stock: the sell-out rule does not apply.
  const few = checkInvariants({
    stats,
    peak: { soldPlusHeld: 0 },
    shoppers: shoppers.slice(0, 5),
    ledger: [],
    d1: null,
    reconcile: null,
    settled: true,
    sale: { release_policy: "release", per_user_limit: 1, product: { price: 100 } },
  });
  assert.equal(few.find((k) => k.name.startsWith("sells out")).pass, null);
});

test("fairness: units by side, ρ of joining against admission, and winners who overtook a loser", () => {
  const open = 1_000_000;
  const sale = { starts_at_ms: open };
  // Six honest shoppers after the opening, admitted in the order they joined; the last two lose.
  const post = [0, 1, 2, 3, 4, 5].map((i) =>
    rec(i, { joinedAt: open + 100 * (i + 1), admission: { at: open + 2000 + 10 * i, bucket: i + 1, key: 5 }, confirmed: i < 4 }),
  );
  // Two pre-queue bots win; one honest pre-queuer loses (a lottery: no one overtook anyone there).
  const bots = [
    rec(100, {
      bot: 0,
      identity: "acct:bot-0",
      prequeued: true,
      joinedAt: open - 500,
      admission: { at: open + 1500, bucket: 0, key: 1 },
      confirmed: true,
    }),
    rec(101, {
      bot: 1,
      identity: "acct:bot-1",
      prequeued: true,
      joinedAt: open - 400,
      admission: { at: open + 1500, bucket: 0, key: 2 },
      confirmed: true,
    }),
  ];
  const pre = rec(50, { prequeued: true, joinedAt: open - 300, admission: { at: open + 1500, bucket: 0, key: 3 } });
  let f = fairness({ shoppers: [...post, pre], bots, sale, soldOutAt: open + 2000 });
  assert.deepEqual(f.units, { honest: 4, bots: 2 });
  assert.deepEqual(f.cameBack, { honest: 4, bots: 0 }, "the post-opening winners held theirs after it first sold out");
  assert.equal(f.postOpening.n, 6);
  assert.equal(f.postOpening.rho, 1);
  assert.equal(f.overtaken.n, 4, "the four post-opening winners came after the pre-queuer who lost");
  assert.equal(f.shares.botContenders, 2 / 4, "two bots among the four identities admitted when it sold out");

  // Without the losing pre-queuer, nobody who lost came before a winner.
  f = fairness({ shoppers: post, bots, sale });
  assert.equal(f.overtaken.n, 0);
  // Admitted in reverse order of joining, the last four to join winning: ρ = −1, and each of them
  // overtook the first two, who lost.
  const reversed = [0, 1, 2, 3, 4, 5].map((i) =>
    rec(i, { joinedAt: open + 200 * (i + 1), admission: { at: open + 5000 - 10 * i, bucket: 6 - i, key: 5 }, confirmed: i >= 2 }),
  );
  f = fairness({ shoppers: reversed, bots: [], sale });
  assert.equal(f.postOpening.rho, -1);
  assert.equal(f.overtaken.n, 4);
  assert.equal(f.overtaken.beyondBucket, 4);
});

test("first come, first served is an invariant only where it can be judged: 30 shoppers over a second of joins", () => {
  const stats = {
    stock: { stock_total: 1, available: 0, held: 0, sold: 1, withdrawn: 0 },
    holds: { held: 0, pending: 0, confirmed: 1, expired: 0, cancelled: 0, declined: 0 },
    units: { confirmed: 1 },
    refunds: { pending: 0, refunded: 0 },
    outbox: { backlog: 0, oldest_age_ms: 0 },
    d1: { orders: 1, units: 1, refunds: 0, revenue: 100 },
  };
  const sale = { release_policy: "release", per_user_limit: 1, product: { price: 100 } };
  const judged = (postOpening) =>
    checkInvariants({
      stats,
      peak: { soldPlusHeld: 1 },
      shoppers: [],
      ledger: [],
      d1: null,
      reconcile: null,
      settled: true,
      sale,
      fairness: { postOpening },
    }).find((k) => k.name.startsWith("first come, first served")).pass;
  assert.equal(judged({ n: 200, spanMs: 5000, rho: 0.97 }), true);
  assert.equal(judged({ n: 200, spanMs: 5000, rho: 0.85 }), false);
  assert.equal(judged({ n: 20, spanMs: 5000, rho: 0.1 }), null, "too few shoppers");
  assert.equal(judged({ n: 200, spanMs: 300, rho: 0.1 }), null, "all in a few buckets: their order within one is the line's lottery");
});
