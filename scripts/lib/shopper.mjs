// One simulated shopper, through the real flow a browser takes, with the shopper client
// (domain/client.js, `ctx.api`):
//   session (as the shopper's own shop account, or anonymous from its own network) → challenge → proof of work (pow.js's search, lib/solver.mjs) → queue → poll until a
//   pass → claim
//   → pay, cancel or walk away (the hold expires).
// This file is the behaviour model: what a shopper retries, how long they think, greedy ones.
// Everything a shopper learns is recorded on its object so the invariant checker can compare
// the shoppers' view with the engine's, D1's and the gateway's.
import { sleep } from "./http.mjs";
import { now } from "./clock.mjs";

/**
 * Steps taken while a hold's clock runs, or in the race for a unit (a claim, and a poll when
 * admission is a moment away): they skip the client's queue for a request slot. Each real
 * shopper has their own connection; the rehearsal's shared pool must not decide who wins.
 */
const URGENT = new Set(["pay", "cancel", "hold", "claim", "holds"]);
const jitter = (ms, spread = 0.2) => ms * (1 - spread + 2 * spread * Math.random());

export function newShopper(i, arriveAt, opts) {
  const ip = opts.sameIp ? null : `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`;
  const account = opts.identity === "account" ? `shopper-${i}` : null;
  return {
    i,
    arriveAt, // ms after the burst starts; shoppers are numbered in arrival order
    ip,
    account, // the shop account this shopper signs in with (account sales)
    // Who the sale counts (its per-user limit, its one place in line): the account, or the network.
    identity: account ? `acct:${account}` : `net:${ip ?? "127.0.0.1"}`,
    greedy: Math.random() < opts.greedy,
    token: null,
    user: null,
    ticket: null,
    pass: null,
    passExp: 0,
    prequeued: null, // queued before the sale opened (ranked by the opening lottery)
    joinedAt: null, // when the first place in line was asked for (the request on the wire)
    place: null, // that place: { bucket, key }
    admission: null, // the first admission: { at, bucket, key }
    holds: [], // { id, intent, created_at, final, order_id, source }
    greedyIds: null,
    extraClaim: null, // greedy: status of a claim after paying (must not be a new hold)
    outcome: null,
    soldOutAnswers: 0,
    claimAttempts: 0,
    mopups: 0,
    errors: {},
    done: false,
  };
}

/**
 * One step, `send(options)` being a client call: from the shopper's address, timed under
 * `step`; retries what a browser would retry. Every refusal is counted by step and code.
 */
async function call(ctx, sh, step, send, { urgent = URGENT.has(step) } = {}) {
  const options = { urgent, headers: sh.ip ? { "cf-connecting-ip": sh.ip } : {} };
  const bot = sh.bot !== undefined; // a bot's identity (lib/bots.mjs), here for its holds' final word
  for (let attempt = 0; ; attempt++) {
    const r = await send(options);
    if (r.status !== 0 && !bot) ctx.samples.add(step, r.ms);
    if (!bot) ctx.samples.add("_slot", r.waited);
    const code = r.status === 0 ? "network" : r.body?.error;
    if (r.status === 0 || r.status >= 300) ctx.noteRefusal(step, r.status, code, bot);
    const transient = r.status === 0 || r.status === 429 || r.status >= 500;
    if (!transient) return r;
    ctx.noteError(step, r.status, code, r.status === 0 ? r.error : r.body?.raw || r.body?.message);
    sh.errors[`${step}:${r.status}`] = (sh.errors[`${step}:${r.status}`] ?? 0) + 1;
    // 429 and 503 say when to come back; a 500 or a dropped connection gets a short backoff.
    // Claims and payments repeat with the same Idempotency-Key / hold, so a retry is safe.
    if (attempt >= (r.status === 429 ? 6 : 4)) return r;
    const after = Number(r.headers.get("retry-after"));
    await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 10) * 1000 * (0.5 + Math.random()) : jitter(250 * 2 ** attempt));
  }
}

/** Challenge → solve → queue: the answer of a new place in line (or of the one the ticket keeps), or a final outcome. */
async function join(ctx, sh) {
  const { api, sale } = ctx;
  for (let tries = 0; tries < 4; tries++) {
    const c = await call(ctx, sh, "challenge", (o) => api.challenge(sale.id, sh.token, o));
    if (c.status === 410) return { outcome: "sale_closed" };
    if (c.status !== 200) continue;
    const t = performance.now();
    const solution = await ctx.solve(c.body.nonce, c.body.bits);
    ctx.samples.add("solve", performance.now() - t);
    const q = await call(ctx, sh, "queue", (o) =>
      api.queue(sale.id, sh.token, { challenge: c.body.challenge, solution, ticket: sh.ticket ?? undefined }, o),
    );
    if (q.status === 410) return { outcome: "sale_closed" };
    if (q.status === 201 && !sh.place) {
      // The fairness figures' arrival: when the request that got the first place went on the wire.
      sh.joinedAt = now() - q.ms;
      sh.place = q.body.place;
      sh.prequeued = q.body.place.bucket === 0;
    }
    if (q.status === 200 || q.status === 201) return { standing: q.body };
  }
  return { outcome: "error" };
}

/** Challenge → solve → queue → poll: resolves a pass, or a final outcome. */
async function getPass(ctx, sh) {
  const { api, sale, opts } = ctx;
  if (sh.pass && sh.passExp > now() + 10_000) return { pass: sh.pass };
  let standing = null;
  if (sh.ticket && sh.ticketExp > now() + 5_000) {
    const g = await call(ctx, sh, "poll", (o) => api.poll(sale.id, sh.token, sh.ticket, o));
    if (g.status === 200) standing = g.body;
  }
  if (!standing) {
    const j = await join(ctx, sh);
    if (!j.standing) return { outcome: j.outcome };
    standing = j.standing;
  }
  const queuedAt = now();
  for (let polls = 0; ; polls++) {
    if (standing.ticket) {
      sh.ticket = standing.ticket;
      sh.ticketExp = Date.parse(standing.ticket_expires_at);
    }
    if (standing.state === "admitted") {
      sh.pass = standing.pass;
      sh.passExp = Date.parse(standing.pass_expires_at);
      sh.passAt ??= now();
      sh.admission ??= { at: Date.parse(standing.admitted_at), bucket: standing.place.bucket, key: standing.place.key };
      ctx.samples.add("wait", now() - queuedAt);
      return { pass: sh.pass };
    }
    // No unit can come back (the room says so): the page shows "sold out".
    if (standing.state === "sold_out") return { outcome: "sold_out_waiting" };
    if (standing.state === "expired") {
      // Admitted, but the time to claim ran out: queue again, at the back.
      if ((sh.rejoins = (sh.rejoins ?? 0) + 1) > 3) return { outcome: "no_pass" };
      sh.ticket = null;
      sh.pass = null;
      const j = await join(ctx, sh);
      if (!j.standing) return { outcome: j.outcome };
      standing = j.standing;
      continue;
    }
    if (now() - queuedAt > opts.passTimeoutS * 1000) return { outcome: "no_pass" };
    // What a waiting-room page shows: if the sale is gone for good there is no point waiting.
    if (polls % 4 === 3 && sale.release_policy !== "waitlist") {
      const info = await call(ctx, sh, "info", (o) => api.sale(sale.id, o));
      if (info.status === 200 && info.body.sale.sold_out && info.body.sale.held === 0) return { outcome: "sold_out_waiting" };
    }
    await sleep(jitter(1000 * Math.min(Math.max(standing.refresh_s ?? 1, 0.25), opts.pollCapS)));
    // Admission a moment away (or the pre-queue being drawn): this poll is part of the race.
    const near = standing.eta_s !== null ? standing.eta_s <= 2 : now() >= sale.starts_at_ms;
    const g = await call(ctx, sh, "poll", (o) => api.poll(sale.id, sh.token, sh.ticket, o), { urgent: near });
    if (g.status === 200) standing = g.body;
    else if (g.status === 403) {
      if ((sh.requeues = (sh.requeues ?? 0) + 1) > 3) return { outcome: "error" };
      sh.ticket = null; // ticket refused: queue again (the room keeps the place)
      return getPass(ctx, sh);
    }
  }
}

/** One claim; greedy shoppers fire three at once (two with the same key) to test the limit. */
async function claimOnce(ctx, sh, n) {
  const key = `${sh.user}.c${n}`;
  const send = (k) => call(ctx, sh, "claim", (o) => ctx.api.claim(ctx.sale.id, sh.token, { pass: sh.pass, key: k }, o));
  sh.claimAttempts++;
  if (sh.greedy && n === 0) {
    const rs = await Promise.all([key, key, `${key}b`].map(send));
    for (const r of rs) ctx.noteClaim(r);
    sh.greedyIds = rs.filter((r) => r.body?.hold).map((r) => r.body.hold.id);
    sh.greedyReplay = rs[0].body?.hold?.id && rs[1].body?.hold?.id ? rs[0].body.hold.id === rs[1].body.hold.id : null;
    return rs.find((r) => r.body?.hold) ?? rs[0];
  }
  const r = await send(key);
  ctx.noteClaim(r);
  return r;
}

/** Claims until a hold or a final refusal; returns "requeue" when the pass is refused. */
/** @param {any} ctx @param {any} sh @param {{ intent?: any }} [o] */
async function claimUntilDone(ctx, sh, { intent } = {}) {
  const { opts, sale } = ctx;
  let soldOutRetries = 0;
  let lostAnswers = 0;
  for (let n = sh.claimAttempts; ; n++) {
    const r = await claimOnce(ctx, sh, n);
    if ((r.status === 201 || r.status === 200) && r.body.hold) return finishHold(ctx, sh, r.body.hold, intent);
    if (r.status === 0 || r.status >= 500) {
      // No answer after the retries, yet the claim may have made a hold: look, as the API offers
      // (`your_holds`), before claiming again with a new key or giving up.
      const lost = await lostHold(ctx, sh);
      if (lost) return finishHold(ctx, sh, lost, intent);
      if (lostAnswers++ < 2) continue;
      return (sh.outcome = "error");
    }
    const code = r.body?.error;
    if (r.status === 202 && r.body.waitlisted) {
      // waitlist policy: claiming again shows an offered hold
      if (now() - (sh.waitlistedAt ??= now()) > opts.passTimeoutS * 1000) return (sh.outcome = "waitlisted");
      await sleep(jitter(1000));
      continue;
    }
    if (code === "sold_out") {
      sh.soldOutAnswers++;
      // "Sold out for now": units in unpaid holds may come back; try again a little later.
      if (r.body.held > 0 && soldOutRetries++ < opts.retries) {
        await sleep(jitter(Math.min(10, sale.hold_ttl_s) * 1000 * 0.75, 0.33));
        continue;
      }
      return (sh.outcome = "sold_out");
    }
    if (code === "not_open") {
      await sleep(jitter(300));
      n--;
      continue;
    }
    if (code === "pass_required") return "requeue";
    if (code === "limit_reached") return (sh.outcome = "limit_reached");
    if (code === "sale_closed") return (sh.outcome = "sale_closed");
    return (sh.outcome = "error");
  }
}

/** A hold of this shopper's in this sale that it has not heard of (GET /api/sales/:id/holds), or null. */
async function lostHold(ctx, sh) {
  const r = await call(ctx, sh, "holds", (o) => ctx.api.holds(ctx.sale.id, sh.token, o));
  return r.status === 200 ? (r.body.holds.find((h) => !sh.holds.some((x) => x.id === h.id)) ?? null) : null;
}

async function finishHold(ctx, sh, view, forcedIntent) {
  const { opts } = ctx;
  const roll = Math.random();
  const intent = forcedIntent ?? (roll < opts.abandon ? "abandon" : roll < opts.abandon + opts.cancel ? "cancel" : "pay");
  let h = sh.holds.find((x) => x.id === view.id);
  if (!h) {
    h = { id: view.id, intent, phase: ctx.phase, created_at: now(), final: null, order_id: null, source: view.source };
    sh.holds.push(h);
    ctx.noteHold(h);
  }
  if (view.status !== "held") {
    // A replay answered a hold that has already moved on (e.g. after a restart mid-claim).
    h.final = view.status;
    return (sh.outcome = view.status);
  }
  if (intent === "abandon") return (sh.outcome = "abandoned"); // walks away: the hold must expire
  await sleep(Math.random() * opts.thinkMs);
  if (intent === "cancel") {
    const r = await call(ctx, sh, "cancel", (o) => ctx.api.cancel(h.id, sh.token, o));
    h.final = r.body?.hold?.status ?? null;
    return (sh.outcome = r.status === 200 ? h.final : "error");
  }
  const method = ctx.paymentMethod?.(sh) ?? opts.paymentMethod;
  h.payAt = now(); // pay → confirmed is measured from here (scripts/lib/pacing-report.mjs)
  h.expiresAt = Date.parse(view.expires_at);
  let r = await call(ctx, sh, "pay", (o) => ctx.api.pay(h.id, sh.token, method, o));
  let hold = r.body?.hold;
  if (hold?.queue) h.queued = hold.queue; // queued under the payment provider's rate limit
  if (hold?.action && ctx.completeAction) {
    // 3-D Secure: the shopper authenticates (or walks away, or fails), then the page pays again.
    h.action = await ctx.completeAction(hold.action);
    if (h.action !== "abandoned") {
      r = await call(ctx, sh, "pay", (o) => ctx.api.pay(h.id, sh.token, method, o));
      hold = r.body?.hold;
    }
  }
  if (r.status === 202 || hold?.status === "pending") hold = await waitForPayment(ctx, sh, h.id);
  if (!hold) return (sh.outcome = "error");
  h.final = hold.status;
  h.reason = hold.reason;
  h.order_id = hold.order_id;
  if (hold.status === "confirmed") {
    ctx.noteSold();
    if (sh.greedy) {
      // Having bought one, try for another: must be refused (limit_reached, or sold out first).
      const x = await claimOnce(ctx, sh, 99);
      sh.extraClaim = { status: x.status, error: x.body?.error ?? null, hold: x.body?.hold?.id ?? null };
    }
  }
  // expired: either the pay call came after the window (410), or the outcome stayed unknown
  // until PAY_GIVE_UP_S and the unit was released (a late charge is then refunded).
  if (hold.status === "expired") {
    return (sh.outcome = /outcome unknown/.test(hold.reason ?? "") ? "expired_pay_unknown" : "expired_before_pay");
  }
  return (sh.outcome = hold.status);
}

/** A payment whose outcome is not known yet: poll the hold until it settles. */
async function waitForPayment(ctx, sh, id) {
  const deadline = now() + ctx.opts.payPollS * 1000;
  let last = null;
  let until = deadline;
  for (let n = 0; now() < until; n++) {
    await sleep(jitter(Math.min(3000, 1000 * 1.5 ** n))); // 1 s, 1.5 s, 2.3 s, 3 s, …
    const r = await call(ctx, sh, "hold", (o) => ctx.api.hold(id, sh.token, o));
    if (r.status === 200) {
      last = r.body.hold;
      if (last.status !== "pending") return last;
      // Queued under the provider's rate limit: the page keeps polling until its turn and after.
      if (last.queue) until = Math.max(until, Date.parse(last.queue.eta) + ctx.opts.payPollS * 1000);
    }
  }
  return last;
}

export async function runShopper(ctx, sh) {
  try {
    await sleep(ctx.t0 + sh.arriveAt - now());
    sh.arrivedAt = now();
    // An account sale: the shop signs the shopper in (an assertion for their account).
    const identity = sh.account ? await ctx.signIn(sh.account) : undefined;
    const s = await call(ctx, sh, "session", (o) => ctx.api.session({ ...o, identity }));
    if (s.status !== 201) return (sh.outcome = "error");
    sh.token = s.body.token;
    sh.user = s.body.user_id;
    for (let round = 0; round < 4; round++) {
      const p = await getPass(ctx, sh);
      if (!p.pass) return (sh.outcome = p.outcome);
      const res = await claimUntilDone(ctx, sh);
      if (res !== "requeue") return res;
      sh.pass = null;
    }
    return (sh.outcome = "error");
  } catch (e) {
    ctx.noteError("shopper", "exception", String(e?.message ?? e));
    sh.outcome = "error";
  } finally {
    sh.done = true;
    ctx.noteDone(sh);
  }
}

/**
 * Late demand: a shopper who was told "sold out" comes back once units are available again
 * (under `release` they return when holds end). Such a shopper means to pay.
 */
export async function comeBack(ctx, sh) {
  sh.mopups++;
  const before = sh.outcome;
  try {
    for (let round = 0; round < 3; round++) {
      const p = await getPass(ctx, sh);
      if (!p.pass) return (sh.outcome = before);
      const res = await claimUntilDone(ctx, sh, { intent: "pay" });
      if (res !== "requeue") return res;
      sh.pass = null;
    }
  } catch (e) {
    ctx.noteError("comeback", "exception", String(e?.message ?? e));
  }
}

/** At the end: every hold's own final word, as its shopper (or the bot session that made it) sees it. */
export async function finalHoldViews(ctx, shoppers) {
  const jobs = [];
  for (const sh of shoppers) for (const h of sh.holds) jobs.push([sh, h]);
  await Promise.all(
    jobs.map(async ([sh, h]) => {
      const api = sh.bot === undefined ? ctx.api : ctx.fleet[sh.bot].api;
      const r = await call(ctx, sh, "hold", (o) => api.hold(h.id, h.token ?? sh.token, o));
      h.end = r.status === 200 ? r.body.hold : { status: `http_${r.status}` };
    }),
  );
}
