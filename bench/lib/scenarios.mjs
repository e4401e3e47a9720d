// The scenarios, in the order they run: the no-op ceiling, the sold-out answer and the rows that
// send the same request (no-op, floor), status polls, then the claim comparisons interleaved at
// each concurrency (full stack, object alone, group commit off, many past holds, a patched copy).
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { basename } from "node:path";
import { ADMIT_PARALLEL, pMap } from "./shoppers.mjs";
import { now as clockNow } from "../../scripts/lib/clock.mjs";

const secs = (t0) => +((clockNow() - t0) / 1000).toFixed(1);

/** Runs every scenario `opt.only` asks for; `runs` (runs.mjs) records the rows. */
export async function runScenarios(runs, { opt, built, builtCmp }) {
  const want = (s) => opt.only.has(s);
  const { repeatable, fill, orders, claimRun, objectRun, setup } = runs;

  // ---------------------------------------------------------------- runtime 1: wrangler.toml vars
  const one = await runs.runtime({}, { built, root: opt.root });
  const { rt, api, sessionsFor, target } = one;
  const noop = () => ({ path: "/" });
  await repeatable(one, "noop", "no-op Worker (ceiling)", rt.target("noop", "direct"), noop);
  if (want("noop_entry")) await repeatable(one, "noop_entry", "no-op via entry Worker", rt.target("noop", "entry"), noop);

  // The sold-out row and the rows sent the same request (the no-op's and the floor's).
  if (["sold_out", "sold_out_pass", "noop_claim", "floor_body", "floor_object"].some(want)) {
    // Admitted shoppers who come too late, with their passes: when an isolate's cached sale info
    // has expired, the claim goes through to the object (which says 409 and refreshes the cache);
    // without a pass that request would be a 403 pass_required. A turn carries a unit, so nobody
    // is admitted to a sale with no unit left: the pool is admitted first, one unit each, and each
    // claims its unit (the sale allows two per shopper), so every later claim finds none.
    const n = Math.min(opt.pollShoppers, 1000);
    await api.createSale("bench-soldout", { stock_total: n, per_user_limit: 2 });
    const pool = await api.admit("bench-soldout", await sessionsFor("bench-soldout", n), ADMIT_PARALLEL);
    await pMap(pool, 32, async (s, k) => {
      const r = await api.claim("bench-soldout", s, `bench-soldout-first-${k}`);
      if (r.status !== 201) throw new Error(`sold-out setup claim: ${r.status} ${JSON.stringify(r.body)}`);
    });
    const left = (await api.stats("bench-soldout")).stock;
    if (left.available !== 0) throw new Error(`sold-out setup: ${JSON.stringify(left)} (${pool.length} of ${n} admitted)`);
    let i = 0;
    const soldOutClaim = () => {
      const s = pool[i++ % pool.length];
      return {
        method: "POST",
        path: "/api/sales/bench-soldout/claim",
        headers: { authorization: `Bearer ${s.token}`, "x-pass": s.pass, "idempotency-key": `soldout-${i}` },
        body: "{}",
      };
    };
    const json = { "content-type": "application/json" };
    // The ceiling for this request's shape: the runtime reading the same headers and body.
    if (want("noop_claim"))
      await repeatable(one, "noop_claim", "no-op, same request as claim", rt.target("noop", "direct"), soldOutClaim, json);
    // The floor under a claim: the same request, its body read; then plus one object call.
    const floor = rt.target("floor", "direct");
    const at = (path) => () => ({ ...soldOutClaim(), path });
    if (want("floor_body")) await repeatable(one, "floor_body", "floor: read body, answer", floor, at("/body"), json, { codes: ["201"] });
    if (want("floor_object"))
      await repeatable(one, "floor_object", "floor: + one object call", floor, at("/object"), json, { codes: ["201"] });
    // The crowd: claims without a pass, answered by the fast path before routing.
    const crowdClaim = () => {
      const r = soldOutClaim();
      const { "x-pass": _, ...headers } = r.headers;
      return { ...r, headers };
    };
    if (want("sold_out"))
      await repeatable(one, "sold_out", "sold-out claim, no pass (409)", target, crowdClaim, json, { codes: ["409"], non2xx: true });
    // Pass holders: the first claim of each reaches the object (it may be a retry of a claim that
    // got a hold: "same key, same hold"); the object's "sold out" is remembered, so their
    // retries, measured here after the warm-up, are answered by the fast path again.
    if (want("sold_out_pass"))
      await repeatable(one, "sold_out_pass", "sold-out claim, pass holders' retries (409)", target, soldOutClaim, json, {
        codes: ["409"],
        non2xx: true,
      });
  }

  if (want("poll_edge") || want("poll_object") || want("noop_poll")) {
    await api.createSale("bench-poll");
    const t = clockNow();
    const shoppers = await api.admit("bench-poll", await sessionsFor("bench-poll", opt.pollShoppers), ADMIT_PARALLEL);
    const held = await pMap(shoppers, 32, async (s, k) => {
      const r = await api.claim("bench-poll", s, `bench-poll-${k}`);
      if (r.status !== 201) throw new Error(`poll setup claim: ${r.status} ${JSON.stringify(r.body)}`);
      return { ...s, hold: r.body.hold.id };
    });
    setup.poll = { shoppers: held.length, s: secs(t) };
    let i = 0;
    const pollOf = (path) => () => {
      const s = held[i++ % held.length];
      return { path, headers: { authorization: `Bearer ${s.token}`, "x-ticket": s.ticket } };
    };
    if (want("noop_poll")) {
      // The ceiling for the poll's shape: its request (session and ticket headers) and an answer
      // of its size, from the no-op.
      const bytes = JSON.stringify(await api.poll("bench-poll", held[0])).length;
      await repeatable(
        one,
        "noop_poll",
        `no-op, poll's request, ${bytes} B answer`,
        rt.target("noop", "direct"),
        pollOf(`/?bytes=${bytes}`),
      );
    }
    if (want("poll_edge")) await repeatable(one, "poll_edge", "status poll (edge only)", target, pollOf("/api/sales/bench-poll/queue"));
    if (want("poll_object")) {
      await repeatable(one, "poll_object", "hold poll (via object)", target, () => {
        const s = held[i++ % held.length];
        return { path: `/api/holds/${s.hold}`, headers: { authorization: `Bearer ${s.token}` } };
      });
    }
  }

  // Joining the line: session, solved challenge (not spent: a replay keeps the one place) →
  // a place and a signed ticket at the edge, the arrival counted for the next batched report.
  if (want("join")) {
    await api.createSale("bench-join", { starts_at: new Date(clockNow() + 3600_000).toISOString() });
    const t = clockNow();
    const pool = await api.solved("bench-join", await sessionsFor("bench-join", opt.pollShoppers), 64);
    setup.join = { shoppers: pool.length, s: secs(t) };
    let j = 0;
    await repeatable(
      one,
      "join",
      "join the line (queue)",
      target,
      () => {
        const s = pool[j++ % pool.length];
        return {
          method: "POST",
          path: "/api/sales/bench-join/queue",
          headers: { authorization: `Bearer ${s.token}` },
          body: JSON.stringify({ challenge: s.challenge, solution: s.solution }),
        };
      },
      { "content-type": "application/json" },
      { codes: ["200", "201"] },
    );
  }

  // ---------------------------------------------------------------- claims, interleaved
  // The runs that are compared with each other (group commit on/off, small/big past holds,
  // full stack/object alone) are taken back to back at each c, repeated --repeat times, so that
  // the machine's drifting load hits them alike. GROUP_COMMIT=off is a second workerd started
  // now (idle until its turn).
  const gcOff = want("claim_gc_off") ? await runs.runtime({ GROUP_COMMIT: "off" }, { built, root: opt.root }) : null;
  const cmp = builtCmp ? await runs.runtime({}, { built: builtCmp, root: opt.compare }) : null;
  // The shop's webhooks to an endpoint that takes the connection and never answers: every claim
  // of this row's sale runs beside webhook requests held open (docs/events.md).
  const hanging = want("claim_hooks_never") ? await neverAnswers() : null;
  const hooks = hanging
    ? await runs.runtime(
        { SHOP_WEBHOOK_URL: hanging.url, SHOP_WEBHOOK_SECRET: randomBytes(32).toString("hex"), SHOP_WEBHOOK_TIMEOUT_MS: "60000" },
        { built, root: opt.root },
      )
    : null;
  const bigSale = "bench-claim-past-big";
  if (want("claim_past_big")) {
    // One sale for every c and repeat: filling it is the slow part (timed in setup.fills).
    await api.createSale(bigSale);
    await fill(one, bigSale, opt.pastBig);
  }
  for (let rep = 1; rep <= opt.repeat; rep++) {
    const tag = opt.repeat > 1 ? ` #${rep}` : "";
    for (const c of opt.connections) {
      if (want("claim_object")) await objectRun(one, `bench-claim-object-c${c}-r${rep}`, c, tag);
      if (want("claim")) {
        const sale = `bench-claim-c${c}-r${rep}`;
        await api.createSale(sale);
        await fill(one, sale, opt.pastSmall);
        await claimRun(one, "claim", `claim, ${opt.pastSmall} past holds${tag}`, sale, c);
      }
      if (gcOff) {
        if (want("claim_object")) await objectRun(gcOff, `bench-claim-object-gcoff-c${c}-r${rep}`, c, tag, { gcOff: true });
        const sale = `bench-claim-gcoff-c${c}-r${rep}`;
        await gcOff.api.createSale(sale);
        await fill(gcOff, sale, opt.pastSmall);
        await claimRun(gcOff, "claim_gc_off", `claim, GROUP_COMMIT=off${tag}`, sale, c);
      }
      if (cmp) {
        const sale = `bench-claim-cmp-c${c}-r${rep}`;
        await cmp.api.createSale(sale);
        await fill(cmp, sale, opt.pastSmall);
        await claimRun(cmp, "claim_cmp", `claim, ${basename(opt.compare)}${tag}`, sale, c);
      }
      if (hooks) {
        const sale = `bench-claim-hooks-c${c}-r${rep}`;
        await hooks.api.createSale(sale);
        await fill(hooks, sale, opt.pastSmall);
        await orders(hooks, sale, 100); // 100 order events for the shop: 16 requests open, the rest waiting
        await claimRun(hooks, "claim_hooks_never", `claim, the shop's webhooks never answer${tag}`, sale, c);
        const w = (await hooks.api.stats(sale)).events?.webhook;
        (setup.hooks ??= []).push({ sale, hanging_requests: hanging.open(), webhook: w });
      }
      if (want("claim_past_big")) await claimRun(one, "claim_past_big", `claim, ${opt.pastBig} past holds${tag}`, bigSale, c);
      if (want("claim_shards8")) {
        // The claim row's shape on a sale of 8 stock shards (its past holds spread over them):
        // each claim goes to its shopper's home shard. Locally every object shares one thread,
        // so this row measures the overhead of sharding, not its scaling (docs/scaling.md).
        const sale = `bench-claim-shards8-c${c}-r${rep}`;
        await api.createSale(sale, { shards: 8 });
        for (let i = 0; i < 8; i++) await fill(one, i === 0 ? sale : `${sale}~${i}`, Math.ceil(opt.pastSmall / 8));
        await claimRun(one, "claim_shards8", `claim, 8 shards${tag}`, sale, c);
      }
    }
  }
}

/** An HTTP server that accepts every request and never answers (a shop that hangs). */
async function neverAnswers() {
  const held = new Set();
  const server = createServer((_req, res) => {
    held.add(res);
    res.on("close", () => held.delete(res));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", () => r(undefined)));
  server.unref();
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${port}/hooks`, open: () => held.size };
}
