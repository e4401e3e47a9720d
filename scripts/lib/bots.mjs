// The bot fleet (`--bots N --bot-sessions M`): scalpers, as issue 10's outside rehearsal played
// them. Each bot is one network address with M sessions and a browser's User-Agent. It makes its
// sessions before the sale exists (`prepareFleet`), joins the pre-queue with half of them once the
// sale is there and fires the other half right at the opening, polls every 250 ms, and
// claims with every session that is admitted; it pays at once, and hammers "sold out for now"
// while units are held. It keeps its network under the per-network rate limit (a bot shut out for
// ten seconds would be a weak bot), and spends its requests where they count: it polls the
// best-placed ticket of each identity (every 250 ms once admission is a few seconds away), and
// once that one is admitted every session asks for its pass and claims.
//
// What a session is worth depends on the sale:
//  - account sale: M sessions of one shop account (a scalper cannot mint accounts for free), or of
//    `--bot-accounts A` accounts (bought ones): A identities. Sessions of one account are one user,
//    so one solved challenge serves them all (the edge does not spend a solution);
//  - anonymous sale: M anonymous sessions from its one network: one identity (network_cap 1).
// Each identity is a record shaped like a shopper (lib/shopper.mjs): the invariants check its
// holds like anyone's, and the fairness figures count its units as the bots'.
import { sleep } from "./http.mjs";
import { now } from "./clock.mjs";

export const BOT_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/** RL_IP allows 300 requests per network per 10 s (wrangler.toml); a bot stays under it with room for delays. */
const PACE = { limit: 250, windowMs: 10_000 };
/** Polls every 250 ms once admission is near (ETA ≤ 3 s), every second before that. */
const POLL_MS = 250;
const FAR_POLL_MS = 1000;
/**
 * Requests in flight per bot: its own connections, as many as a browser opens to one host (more
 * would only crowd the one local runtime everyone shares). What decides the race goes first: the
 * best-placed ticket's polls and claims, and the payment; the other sessions' requests wait.
 */
export const BOT_CONCURRENCY = 6;
const URGENT = new Set(["pay", "hold", "holds"]);
const before = (x, y) => x.bucket - y.bucket || x.key - y.key;

/** The fleet: bots numbered 0…N-1, each on its own network, with its identities and sessions. */
export function newFleet(opts) {
  return Array.from({ length: opts.bots }, (_, b) => {
    const ip = `172.${16 + (b >> 16)}.${(b >> 8) & 255}.${b & 255}`;
    const accounts = opts.identity === "account" ? opts.botAccounts : 1;
    const identities = Array.from({ length: accounts }, (_, a) => {
      const account = opts.identity === "account" ? `bot-${b}${accounts > 1 ? `-${a}` : ""}` : null;
      return {
        i: `bot${b}${accounts > 1 ? `.${a}` : ""}`,
        bot: b,
        ip,
        account,
        identity: account ? `acct:${account}` : `net:${ip}`,
        greedy: false,
        user: null,
        token: null,
        holds: [],
        outcome: null,
        joinedAt: null,
        place: null,
        prequeued: null,
        admission: null,
        mopups: 0,
        errors: {},
        done: false,
      };
    });
    const sessions = Array.from({ length: opts.botSessions }, (_, s) => ({
      s,
      idn: identities[s % accounts],
      // Half join the pre-queue, half right after the opening.
      when: s < Math.ceil(opts.botSessions / 2) ? "prequeue" : "opening",
      token: null,
      user: null,
      standing: null,
      joined: false,
      claims: 0,
    }));
    return { b, ip, identities, sessions, pace: pacer(PACE.limit, PACE.windowMs), solved: new Map(), requests: 0, rateLimited: 0 };
  });
}

/** A sliding window over this bot's requests: at most `limit` in any `windowMs`. */
function pacer(limit, windowMs) {
  const sent = [];
  let chain = Promise.resolve();
  return () =>
    (chain = chain.then(async () => {
      for (;;) {
        const t = now();
        while (sent.length && sent[0] <= t - windowMs) sent.shift();
        if (sent.length < limit) return void sent.push(t);
        await sleep(sent[0] + windowMs - t + 1);
      }
    }));
}

/**
 * One request from the bot's network, paced; 429s and 5xx are waited out and tried again.
 * `note(step, status, code)` counts refusals.
 */
async function send(bot, note, step, fn, urgent = URGENT.has(step)) {
  for (let attempt = 0; ; attempt++) {
    await bot.pace();
    bot.requests++;
    const r = await fn({ headers: { "cf-connecting-ip": bot.ip }, urgent });
    const code = r.status === 0 ? "network" : r.body?.error;
    if (r.status === 0 || r.status >= 300) note(step, r.status, code);
    if (r.status === 429) bot.rateLimited++;
    if (!(r.status === 0 || r.status === 429 || r.status >= 500) || attempt >= 5) return r;
    const after = Number(r.headers.get("retry-after"));
    await sleep(Number.isFinite(after) && after > 0 ? after * 1000 * (0.5 + Math.random() / 2) : 200 * 2 ** attempt);
  }
}

/**
 * Sessions, made ahead (a session is not tied to a sale, and lives a day): with the account's
 * assertion (`sign`) in an account sale. `client(bot)` is the bot's own client (its own
 * connections, as its own machine has); `note(step, status, code)` counts refusals.
 */
export async function prepareFleet(fleet, { client, sign, note }) {
  await Promise.all(
    fleet.flatMap((bot) =>
      bot.sessions.map(async (ses) => {
        const api = (bot.api ??= client(bot));
        const identity = ses.idn.account ? await sign(ses.idn.account) : undefined;
        const s = await send(bot, note, "session", (o) => api.session({ ...o, identity }));
        if (s.status !== 201) return;
        ses.token = s.body.token;
        ses.user = s.body.user_id;
        ses.idn.user ??= ses.user;
        ses.idn.token ??= ses.token;
      }),
    ),
  );
}

const finished = (idn) => idn.outcome !== null;

/** One bot, from the sale's creation: its identities, each run on its own. */
export async function runBot(ctx, bot) {
  if (bot.sessions.some((s) => !s.token)) await prepareFleet([bot], { client: ctx.botClient, sign: ctx.signIn, note: ctx.noteBot });
  await Promise.all(
    bot.identities.map((idn) =>
      runIdentity(
        ctx,
        bot,
        idn,
        bot.sessions.filter((s) => s.idn === idn && s.token),
      ).catch((e) => ctx.noteError("bot", "exception", String(e?.message ?? e))),
    ),
  );
  for (const idn of bot.identities) {
    idn.outcome ??= "gave_up";
    idn.done = true;
  }
}

/** A solved challenge for this session's user (one per user: an account's sessions share it). */
function solved(ctx, bot, ses, fresh = false) {
  const have = bot.solved.get(ses.user);
  if (have && !fresh) return have.then((s) => (s && s.until > now() + 10_000 ? s : solved(ctx, bot, ses, true)));
  const next = (async () => {
    const c = await send(bot, ctx.noteBot, "challenge", (o) => bot.api.challenge(ctx.sale.id, ses.token, o));
    if (c.status !== 200) return null;
    return {
      challenge: c.body.challenge,
      solution: await (ctx.botSolve ?? ctx.solve)(c.body.nonce, c.body.bits),
      until: Date.parse(c.body.expires_at),
    };
  })();
  bot.solved.set(ses.user, next); // the promise: sessions asking at once share one solve
  return next;
}

/**
 * Joins the line; records the identity's best place. The pre-queue half trickles in before the
 * opening (a lottery: no hurry); the opening half has its proof of work done by then and fires at
 * the opening.
 */
async function join(ctx, bot, ses) {
  const { sale } = ctx;
  const { api } = bot;
  // Both halves spread their challenges over the time before the opening; the pre-queue half joins
  // right away, the opening half when the sale opens.
  if (!ses.joined) await sleep(Math.random() * (sale.starts_at_ms - 3000 - now()));
  let sol = await solved(ctx, bot, ses);
  if (!sol) return null;
  if (ses.when === "opening" && !ses.joined) await sleep(sale.starts_at_ms + Math.random() * 100 - now());
  let q = await send(bot, ctx.noteBot, "queue", (o) => api.queue(sale.id, ses.token, sol, o));
  if (q.body?.error === "pow_failed" && (sol = await solved(ctx, bot, ses, true)))
    q = await send(bot, ctx.noteBot, "queue", (o) => api.queue(sale.id, ses.token, sol, o));
  if (q.status !== 200 && q.status !== 201) return null;
  ses.joined = true;
  const idn = ses.idn;
  const at = now() - q.ms;
  if (idn.joinedAt === null || at < idn.joinedAt) idn.joinedAt = at;
  if (!idn.place || before(q.body.place, idn.place) < 0) idn.place = q.body.place;
  idn.prequeued = idn.prequeued || q.body.place.bucket === 0;
  return (ses.standing = q.body);
}

async function poll(ctx, bot, ses, urgent = false) {
  const g = await send(bot, ctx.noteBot, "poll", (o) => bot.api.poll(ctx.sale.id, ses.token, ses.standing.ticket, o), urgent);
  if (g.status === 200) return (ses.standing = g.body);
  if (g.status === 403) return join(ctx, bot, ses);
  return ses.standing;
}

/**
 * One identity's sessions: join, poll the best place fast from the opening on (a pre-queue place
 * has nothing to learn before the draw), then every admitted session claims at once; while units
 * are held ("sold out for now") the best-placed session keeps claiming every 500 ms.
 */
async function runIdentity(ctx, bot, idn, sessions) {
  const { sale, opts } = ctx;
  const joins = Promise.all(sessions.map((ses) => join(ctx, bot, ses)));
  let joinsDone = false;
  void joins.then(() => (joinsDone = true));
  let lastInfo = now();
  let infoInFlight = false;
  let goneForGood = false;
  await sleep(sale.starts_at_ms - now());
  for (let rounds = 0; !finished(idn); ) {
    if (now() - sale.starts_at_ms > opts.passTimeoutS * 1000) return void (idn.outcome = "no_pass");
    if (rounds > 5) return void (idn.outcome = "gave_up");
    const joined = sessions.filter((s) => s.standing);
    if (joined.length === 0) {
      if (joinsDone) return void (idn.outcome = "error");
      await sleep(POLL_MS);
      continue;
    }
    const lead = joined.sort((x, y) => before(x.standing.place, y.standing.place))[0];
    if (lead.standing.state === "sold_out") return void (idn.outcome = "sold_out_waiting");
    if (lead.standing.state === "expired") await join(ctx, bot, lead);
    else if (lead.standing.state !== "admitted") await poll(ctx, bot, lead, true);
    if (lead.standing?.state === "admitted") {
      idn.admission ??= { at: Date.parse(lead.standing.admitted_at), bucket: lead.standing.place.bucket, key: lead.standing.place.key };
      idn.passAt ??= now();
      // Every session claims, each with its own pass (one poll each, while the lead claims at
      // once); sessions of the lead's account share its user, so its pass is theirs too.
      const claimers = joined.map(async (ses) => {
        if (ses.user === lead.user) return { ses, pass: lead.standing.pass };
        if (ses.standing.state !== "admitted") await poll(ctx, bot, ses);
        return ses.standing?.state === "admitted" ? { ses, pass: ses.standing.pass } : null;
      });
      if ((await claimAll(ctx, bot, idn, claimers, lead)) === "requeue") await join(ctx, bot, lead);
      rounds++;
    }
    if (finished(idn)) return;
    // Is the sale gone for good? (What a bot reads off the public sale info, every 2 s, beside
    // its polls: never in their way.)
    if (goneForGood) return void (idn.outcome = "sold_out_waiting");
    if (now() - lastInfo > 2000 && !infoInFlight) {
      lastInfo = now();
      infoInFlight = true;
      void send(bot, ctx.noteBot, "info", (o) => bot.api.sale(sale.id, o)).then((info) => {
        infoInFlight = false;
        goneForGood ||= info.status === 200 && info.body.sale.sold_out && info.body.sale.held === 0;
      });
    }
    const eta = lead.standing?.eta_s;
    await sleep(eta !== null && eta !== undefined && eta > 3 ? FAR_POLL_MS : POLL_MS);
  }
}

/**
 * Claims with every admitted session (`claimers`: promises of `{ ses, pass }` or null), then with
 * the lead alone while the answer is "sold out for now"; pays for the first hold it gets. Resolves
 * when the identity has its unit, the sale is gone, a payment failed (its caller tries again), or
 * the pass has ("requeue").
 */
async function claimAll(ctx, bot, idn, claimers, lead) {
  const leadPass = lead.standing.pass;
  const { sale } = ctx;
  const { api } = bot;
  // The first hold that comes back is paid at once (holds last seconds), whatever the other claims say.
  let paying = null;
  const take = (ses, hold) => {
    if (paying || idn.holds.some((h) => h.id === hold.id)) return;
    const h = {
      id: hold.id,
      intent: "pay",
      phase: ctx.phase,
      created_at: now(),
      final: null,
      order_id: null,
      source: hold.source,
      token: ses.token,
    };
    idn.holds.push(h);
    ctx.noteHold(h);
    paying = pay(ctx, bot, ses, h).then(() => {
      if (h.final === "confirmed") idn.outcome = "confirmed";
    });
  };
  for (let round = 0; !finished(idn); round++) {
    const these = round === 0 ? claimers : [{ ses: lead, pass: leadPass }];
    const answers = (
      await Promise.all(
        these.map(async (claimer) => {
          const c = await claimer;
          if (!c) return null;
          const { ses, pass } = c;
          const key = `bot${bot.b}.s${ses.s}.c${ses.claims++}`;
          let r = await send(bot, ctx.noteBot, "claim", (o) => api.claim(sale.id, ses.token, { pass, key }, o), ses === lead);
          if (r.status !== 0 && r.status < 500 && r.status !== 429) ctx.noteClaim(r);
          if ((r.status === 0 || r.status >= 500) && !paying) {
            // No answer, yet the claim may have made a hold: look at this session's holds.
            const mine = await send(bot, ctx.noteBot, "holds", (o) => api.holds(sale.id, ses.token, o));
            const lost = mine.status === 200 ? mine.body.holds.find((h) => !idn.holds.some((x) => x.id === h.id)) : null;
            if (lost) r = { status: 200, body: { hold: lost } };
          }
          if ((r.status === 201 || r.status === 200) && r.body.hold) take(ses, r.body.hold);
          return { ses, r };
        }),
      )
    ).filter(Boolean);
    if (paying) {
      await paying;
      return "paid";
    }
    const codes = answers.map(({ r }) => r.body?.error);
    const soldOut = answers.find(({ r }) => r.body?.error === "sold_out");
    if (soldOut && soldOut.r.body.held === 0) return void (idn.outcome = "sold_out");
    if (codes.includes("pass_required") && !soldOut) return "requeue";
    if (!soldOut && !codes.includes("not_open")) return "refused"; // limit_reached, …: look again later
    await sleep(soldOut ? 500 : 100);
  }
  return "done";
}

/** Pays at once with the bot's card (3-D Secure passed when the gateway asks), then waits for the outcome. */
async function pay(ctx, bot, ses, h) {
  const { api } = bot;
  const method = ctx.paymentMethod?.({ i: `bot-${bot.b}-${ses.s}` }) ?? ctx.opts.paymentMethod;
  let r = await send(bot, ctx.noteBot, "pay", (o) => api.pay(h.id, ses.token, method, o));
  let hold = r.body?.hold;
  if (hold?.action && ctx.completeAction) {
    await ctx.completeAction(hold.action, { pass: true });
    r = await send(bot, ctx.noteBot, "pay", (o) => api.pay(h.id, ses.token, method, o));
    hold = r.body?.hold;
  }
  const deadline = now() + ctx.opts.payPollS * 1000;
  while ((r.status === 202 || hold?.status === "pending") && now() < deadline) {
    await sleep(1000);
    const g = await send(bot, ctx.noteBot, "hold", (o) => api.hold(h.id, ses.token, o));
    if (g.status === 200) hold = g.body.hold;
    if (hold?.status && hold.status !== "pending") break;
  }
  h.final = hold?.status ?? null;
  h.order_id = hold?.order_id ?? null;
  if (h.final === "confirmed") ctx.noteSold();
}
