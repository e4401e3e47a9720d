import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { decode, sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { leadingZeroBits, powDigest, solve } from "../domain/pow.js";
import { room } from "../domain/objects";
import { SOLD_OUT_FOR_NOW } from "../domain/schemas/hold";
import { admin, call, claim, createSale, enqueue, idemKey, passFor, session, sleep, stats, stub } from "./helpers";

const EDGE_CACHE_MS = Number(env.EDGE_CACHE_MS);
const OTHER_SECRET = "not-the-server-secret-0123456789abcdef0123";
const roomStats = (sale: string) => room(env, sale).stats();
const counters = async (sale: string) => (await roomStats(sale)).counters;

type Kind = "session" | "challenge" | "ticket" | "pass";
/** A token as the server would sign it, but with whatever claims, secret and expiry we like. */
function forge(kind: Kind, claims: Record<string, unknown>, opts: { secret?: string; expIn?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return sign({ iat: now - 5, exp: now + (opts.expIn ?? 600), aud: `flashsale:${kind}`, ...claims }, opts.secret ?? env.TOKEN_SECRET, "HS256");
}
const b64url = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
/** The same signature over edited claims (what a shopper editing their token would send). */
function tamper(token: string, edit: (p: Record<string, unknown>) => void) {
  const [h, , s] = token.split(".");
  const payload = decode(token).payload as Record<string, unknown>;
  edit(payload);
  return `${h}.${b64url(payload)}.${s}`;
}
/** An unsigned token (`alg: none`). */
const unsigned = (token: string) => `${b64url({ alg: "none", typ: "JWT" })}.${token.split(".")[1]}.`;

const challenge = (sale: string, token: string, opts: { env?: Partial<Env> } = {}) =>
  call("POST", `/api/sales/${sale}/challenge`, { token, env: opts.env });
const submit = (sale: string, token: string, body: Record<string, unknown>, opts: { env?: Partial<Env>; headers?: Record<string, string> } = {}) =>
  call("POST", `/api/sales/${sale}/queue`, { token, body, env: opts.env, headers: opts.headers });
const poll = (sale: string, token: string, ticket: string) => call("GET", `/api/sales/${sale}/queue`, { token, headers: { "x-ticket": ticket } });
const claimWith = (sale: string, token: string, pass?: string, headers: Record<string, string> = {}) =>
  call("POST", `/api/sales/${sale}/claim`, { token, body: {}, headers: { "idempotency-key": idemKey(), ...(pass ? { "x-pass": pass } : {}), ...headers } });

/** A challenge, solved. */
async function solved(sale: string, token: string, opts: { env?: Partial<Env> } = {}) {
  const ch = await challenge(sale, token, opts);
  expect(ch.status).toBe(200);
  return { ...ch.body, solution: await solve(ch.body.nonce, ch.body.bits) } as { challenge: string; nonce: string; bits: number; solution: string };
}

function expectRefused(res: { status: number; body: any }, status: number, error: string) {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(typeof res.body.message).toBe("string");
  expect(res.body.message.length).toBeGreaterThan(10);
}

/**
 * Invariant 8: tickets, passes and challenges are signed, bound to one shopper and one sale,
 * short-lived, of one kind each, and a solved challenge is spent once. Every forgery or transfer
 * is a 403 with a clear error, and none of them reaches the product object.
 */
describe("tokens can't be forged or moved", () => {
  it("tickets: forged, expired, tampered, unsigned, of another kind, another shopper's or another sale's are refused", async () => {
    const [sale, other] = await Promise.all([createSale(), createSale()]);
    const [a, b] = await Promise.all([session(), session()]);
    const q = await enqueue(sale, a.token);
    expect(q.status).toBe(201);
    const ticket = q.body.ticket as string;
    expect((await poll(sale, a.token, ticket)).status).toBe(200);

    const claims = { sub: a.user, sale, seq: 1, pos: 1 };
    const bad: Record<string, string> = {
      "signed with another secret": await forge("ticket", claims, { secret: OTHER_SECRET }),
      expired: await forge("ticket", claims, { expIn: -10 }),
      "tampered (another sale)": tamper(ticket, (p) => (p.sale = other)),
      unsigned: unsigned(ticket),
      "a pass as a ticket": q.body.pass,
      "a session as a ticket": a.token,
      garbage: "not.a.jwt",
    };
    for (const [what, t] of Object.entries(bad)) {
      const res = await poll(sale, a.token, t);
      expectRefused(res, 403, "forbidden");
      expect(res.body.message, what).toContain("X-Ticket");
    }
    expectRefused(await call("GET", `/api/sales/${sale}/queue`, { token: a.token }), 403, "forbidden");
    // A's genuine ticket is neither B's nor good for another sale.
    expectRefused(await poll(sale, b.token, ticket), 403, "forbidden");
    expectRefused(await poll(other, a.token, ticket), 403, "forbidden");
    // A correctly signed ticket for the wrong sale is refused too (binding, not just signature).
    expectRefused(await poll(sale, a.token, await forge("ticket", { ...claims, sale: other })), 403, "forbidden");
  });

  it("passes: none, forged, expired, tampered, unsigned, a ticket, another shopper's or another sale's ⇒ 403 pass_required, nothing reaches the object", async () => {
    const [sale, other] = await Promise.all([createSale(), createSale()]);
    const [a, b] = await Promise.all([session(), session()]);
    const [passA, passB, passOther] = await Promise.all([passFor(sale, a.token), passFor(sale, b.token), passFor(other, a.token)]);
    const q = await enqueue(sale, a.token);
    const bad: Record<string, string | undefined> = {
      none: undefined,
      "another shopper's": passB,
      "another sale's": passOther,
      "signed with another secret": await forge("pass", { sub: a.user, sale }, { secret: OTHER_SECRET }),
      expired: await forge("pass", { sub: a.user, sale }, { expIn: -10 }),
      "tampered (sub)": tamper(passB, (p) => (p.sub = a.user)),
      unsigned: unsigned(passA),
      "a ticket as a pass": q.body.ticket,
      "a challenge as a pass": (await challenge(sale, a.token)).body.challenge,
    };
    for (const [what, p] of Object.entries(bad)) {
      const res = await claimWith(sale, a.token, p);
      expect(res.body.error, what).toBe("pass_required");
      expectRefused(res, 403, "pass_required");
    }
    expect((await stats(sale)).served.claims).toBe(0);
    // The genuine pass works, for its owner.
    expect((await claimWith(sale, a.token, passA)).status).toBe(201);
    expect((await stats(sale)).served.claims).toBe(1);
  });

  it("challenges: forged, expired, tampered, another shopper's, another sale's or replayed ⇒ 403 pow_failed, counted", async () => {
    const [sale, other] = await Promise.all([createSale({ pow_difficulty: 8 }), createSale({ pow_difficulty: 8 })]);
    const [a, b] = await Promise.all([session(), session()]);

    const mine = await solved(sale, a.token);
    const forged = async (over: Record<string, unknown>, opts?: { secret?: string; expIn?: number }) => {
      const nonce = crypto.randomUUID().replaceAll("-", "");
      const claims = { sub: a.user, sale, nonce, bits: 0, ...over };
      return { challenge: await forge("challenge", claims, opts), solution: await solve(String(claims.nonce), Number(claims.bits)) };
    };
    const bad: Record<string, { token: string; sale: string; body: { challenge: string; solution: string } }> = {
      "signed with another secret": { token: a.token, sale, body: await forged({}, { secret: OTHER_SECRET }) },
      expired: { token: a.token, sale, body: await forged({ bits: 8 }, { expIn: -10 }) },
      "tampered to 0 bits": { token: a.token, sale, body: { challenge: tamper(mine.challenge, (p) => (p.bits = 0)), solution: "0" } },
      unsigned: { token: a.token, sale, body: { challenge: unsigned(mine.challenge), solution: mine.solution } },
      "another shopper's": { token: b.token, sale, body: { challenge: mine.challenge, solution: mine.solution } },
      "another sale's": { token: a.token, sale: other, body: { challenge: mine.challenge, solution: mine.solution } },
      "a ticket as a challenge": { token: a.token, sale, body: { challenge: (await enqueue(sale, b.token)).body.ticket, solution: "0" } },
    };
    for (const [what, r] of Object.entries(bad)) {
      const res = await submit(r.sale, r.token, r.body);
      expect(res.body.error, what).toBe("pow_failed");
      expectRefused(res, 403, "pow_failed");
    }

    // Genuine: accepted once; the same solved challenge again is refused, even for its owner.
    const first = await submit(sale, a.token, { challenge: mine.challenge, solution: mine.solution });
    expect(first.status).toBe(201);
    const replay = await submit(sale, a.token, { challenge: mine.challenge, solution: mine.solution });
    expectRefused(replay, 403, "pow_failed");
    expect(replay.body.message).toContain("already used");

    // 6 refused at the edge for `sale` + the replay (refused by the room); 1 for `other`.
    expect((await counters(sale)).rejected_pow).toBe(7);
    expect((await counters(other)).rejected_pow).toBe(1);
    // Only the genuine one took a place (b's place came from enqueue above).
    expect((await roomStats(sale)).in_line).toBe(2);
  });

  it("proof of work: a wrong solution at the sale's difficulty ⇒ 403 pow_failed; public/pow.js's solution passes", async () => {
    const sale = await createSale({ pow_difficulty: 12 });
    const a = await session();
    const ch = await challenge(sale, a.token);
    expect(ch.body.bits).toBe(12);
    let wrong = 0;
    while (leadingZeroBits(await powDigest(ch.body.nonce, `w${wrong}`)) >= 12) wrong++;
    expectRefused(await submit(sale, a.token, { challenge: ch.body.challenge, solution: `w${wrong}` }), 403, "pow_failed");
    // The refused attempt did not spend the challenge: the right answer still gets in.
    const solution = await solve(ch.body.nonce, ch.body.bits);
    expect(leadingZeroBits(await powDigest(ch.body.nonce, solution))).toBeGreaterThanOrEqual(12);
    const ok = await submit(sale, a.token, { challenge: ch.body.challenge, solution });
    expect(ok.status).toBe(201);
    expect((await counters(sale)).rejected_pow).toBe(1);
  });
});

/** Waits so that a burst lands inside one rate-limit window (the local limiter uses fixed 10 s windows). */
async function alignToWindow(needMs = 5000) {
  const left = 10_000 - (Date.now() % 10_000);
  if (left < needMs) await sleep(left + 100);
}

/**
 * The edge's brakes: the rate limits (per session 60 / 10 s, per IP 300 / 10 s) and the
 * User-Agent heuristic refuse before any object is touched, say when to come back, and are
 * counted for the operator.
 */
describe("rate limits and bot heuristics", () => {
  it("rate limits: a session over 60 and an address over 300 in 10 s get 429 with Retry-After, counted", async () => {
    const [bySession, byIp] = await Promise.all([createSale(), createSale()]);
    const hammer = await session();
    const ip = "203.0.113.77";
    await alignToWindow();
    // The same session from many addresses; and many sessions' worth of reads from one address.
    const [sessionRes, ipRes] = await Promise.all([
      Promise.all(Array.from({ length: 80 }, () => challenge(bySession, hammer.token))),
      Promise.all(Array.from({ length: 320 }, () => call("GET", `/api/sales/${byIp}`, { headers: { "cf-connecting-ip": ip } }))),
    ]);
    // Another session and another address are unaffected meanwhile.
    expect((await challenge(bySession, (await session()).token)).status).toBe(200);
    expect((await call("GET", `/api/sales/${byIp}`)).status).toBe(200);
    // The address is limited on every route, not just the one it hammered.
    const blocked = await call("POST", `/api/sales/${byIp}/challenge`, { token: (await session()).token, headers: { "cf-connecting-ip": ip } });

    for (const [res, limit] of [[sessionRes, 60], [ipRes, 300]] as const) {
      expect(res.filter((r) => r.status === 200)).toHaveLength(limit);
      const limited = res.filter((r) => r.status !== 200);
      expect(limited).toHaveLength(res.length - limit);
      for (const r of limited) {
        expectRefused(r, 429, "rate_limited");
        expect(r.headers.get("retry-after")).toBe("10");
        expect(r.body.retry_after_s).toBe(10);
      }
    }
    expectRefused(blocked, 429, "rate_limited");
    expect((await counters(bySession)).rejected_rate_limit).toBe(20);
    expect((await counters(byIp)).rejected_rate_limit).toBe(21);
    // Operators see it in the admin stats.
    expect((await admin("GET", `/sales/${byIp}`)).body.queue.counters.rejected_rate_limit).toBe(21);
  });

  it("automation User-Agents (curl, python, headless, none) ⇒ 403 bot_suspected, counted; a browser passes", async () => {
    const sale = await createSale();
    const s = await session();
    const pass = await passFor(sale, s.token);
    const uas = ["curl/8.5.0", "python-requests/2.32.3", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36", ""];
    for (const ua of uas) {
      expectRefused(await call("POST", `/api/sales/${sale}/challenge`, { token: s.token, headers: { "user-agent": ua } }), 403, "bot_suspected");
    }
    // On the claim too, before the pass is even looked at and before the object.
    expectRefused(await claimWith(sale, s.token, pass, { "user-agent": "Wget/1.21" }), 403, "bot_suspected");
    expect((await stats(sale)).served.claims).toBe(0);
    expect((await counters(sale)).rejected_heuristics).toBe(5);
    expect((await challenge(sale, s.token)).status).toBe(200);
    expect((await admin("GET", `/sales/${sale}`)).body.queue.counters.rejected_heuristics).toBe(5);
  });

  it("with batched counters (COUNTER_FLUSH_MS > 0), the tail of a burst still reaches the stats", async () => {
    const sale = await createSale();
    const s = await session();
    const batched = { COUNTER_FLUSH_MS: "300" } satisfies Partial<Env>;
    // Five refusals inside one flush period, then silence: nothing else would trigger a flush.
    const res = await Promise.all(Array.from({ length: 5 }, () => call("POST", `/api/sales/${sale}/challenge`, { token: s.token, env: batched, headers: { "user-agent": "curl/8" } })));
    for (const r of res) expectRefused(r, 403, "bot_suspected");
    await sleep(400);
    expect((await counters(sale)).rejected_heuristics).toBe(5);
  });
});

type Seen = Record<string, string>;
const siteverifySeen = async (): Promise<Seen[]> => (await fetch("https://siteverify.test/requests")).json();

/**
 * Turnstile, when a secret is configured: the widget's token is checked with siteverify (with
 * the client's IP and an idempotency key); a failed check is a 403, an unreachable or broken
 * siteverify is a 503 (fail closed: nobody gets in unchecked), and without a secret there is no
 * call at all.
 */
describe("Turnstile", () => {
  const TS = { TURNSTILE_SECRET: "turnstile-test-secret" } satisfies Partial<Env>;

  it("passes a good token, sends remoteip and idempotency_key; refuses fail/duplicate (403) and fails closed on slow/down/garbage (503)", async () => {
    const sale = await createSale();
    const ip = "198.51.100.23";
    const send = async (turnstile?: string) => {
      const s = await session();
      const ch = await solved(sale, s.token, { env: TS });
      const before = (await siteverifySeen()).length;
      const res = await submit(sale, s.token, { challenge: ch.challenge, solution: ch.solution, ...(turnstile ? { turnstile } : {}) }, { env: TS, headers: { "cf-connecting-ip": ip } });
      // By idempotency key: other test files share the fake siteverify.
      const sent = (await siteverifySeen()).slice(before).filter((e) => e.idempotency_key?.startsWith(`${ch.nonce}-`));
      return { res, sent, ch, s };
    };

    const good = await send("pass");
    expect(good.res.status).toBe(201);
    expect(good.res.body.state).toBe("admitted");
    expect(good.sent).toEqual([expect.objectContaining({ secret: TS.TURNSTILE_SECRET, response: "pass", remoteip: ip, idempotency_key: expect.stringMatching(new RegExp(`^${good.ch.nonce}-[0-9a-f]{16}$`)) })]);

    for (const token of ["fail", "duplicate"]) {
      const r = await send(token);
      expectRefused(r.res, 403, "turnstile_failed");
      expect(r.sent).toHaveLength(1);
    }
    for (const token of ["slow", "down", "garbage"]) {
      const r = await send(token);
      expectRefused(r.res, 503, "turnstile_unavailable");
      expect(r.res.headers.get("retry-after")).toBe("2");
      expect(r.sent).toEqual([expect.objectContaining({ response: token, remoteip: ip })]);
    }
    // No token at all: refused without asking siteverify.
    const missing = await send(undefined);
    expectRefused(missing.res, 403, "turnstile_failed");
    expect(missing.sent).toHaveLength(0);

    const q = await roomStats(sale);
    expect(q.in_line).toBe(1);
    expect(q.counters).toMatchObject({ queued: 1, rejected_turnstile: 6 });

    // A refused check does not spend the challenge: the same one with a good token gets in,
    // and siteverify sees the same idempotency key.
    const retry = await submit(sale, missing.s.token, { challenge: missing.ch.challenge, solution: missing.ch.solution, turnstile: "pass" }, { env: TS });
    expect(retry.status).toBe(201);
    expect((await siteverifySeen()).filter((e) => e.idempotency_key?.startsWith(`${missing.ch.nonce}-`))).toEqual([expect.objectContaining({ response: "pass" })]);
  });

  it("without a secret, no siteverify call is made", async () => {
    expect(env.TURNSTILE_SECRET).toBeFalsy();
    const sale = await createSale();
    const before = (await siteverifySeen()).length;
    const s = await session();
    const ch = await solved(sale, s.token);
    // "fail" would be refused if it were checked.
    const res = await submit(sale, s.token, { challenge: ch.challenge, solution: ch.solution, turnstile: "fail" });
    expect(res.status).toBe(201);
    expect((await siteverifySeen()).slice(before).filter((e) => e.idempotency_key?.startsWith(`${ch.nonce}-`) || e.response === "fail")).toEqual([]);
  });
});

/**
 * The sold-out fast path: once this isolate has heard "sold out" from the object, further claims
 * are answered 409 from its cache without a hop (the object's claim count does not move), and a
 * unit that comes back in the object without this isolate being told is claimable again once
 * the cache lapses (EDGE_CACHE_MS): stale for at most that long, never longer.
 */
describe("sold-out fast path and edge caching", () => {
  /** A sold-out sale, its holders, and admitted shoppers who would claim next. */
  async function soldOut(stock: number, waiting: number) {
    const sale = await createSale({ stock_total: stock });
    const holders = await Promise.all(Array.from({ length: stock }, () => session()));
    const next = await Promise.all(Array.from({ length: waiting }, () => session()));
    await Promise.all([...holders, ...next].map((s) => passFor(sale, s.token)));
    const holds = [];
    for (const h of holders) {
      const r = await claim(sale, h.token);
      expect(r.status).toBe(201);
      holds.push({ id: r.body.hold.id as string, ...h });
    }
    // The first claim after the sell-out reaches the object, which says so: the edge remembers.
    const heard = await claim(sale, next[0]!.token);
    expectRefused(heard, 409, "sold_out");
    const heardAt = Date.now();
    return { sale, holds, next: next.slice(1), heardAt };
  }

  async function fastPathClaims(sale: string, shoppers: { token: string }[]) {
    const before = { served: (await stats(sale)).served.claims, fast: (await counters(sale)).sold_out_fast_path };
    const res = await Promise.all(shoppers.map((s) => claim(sale, s.token)));
    for (const r of res) {
      expectRefused(r, 409, "sold_out");
      expect(r.body).toMatchObject({ message: SOLD_OUT_FOR_NOW, available: 0 });
    }
    expect((await stats(sale)).served.claims).toBe(before.served);
    expect((await counters(sale)).sold_out_fast_path).toBe(before.fast + shoppers.length);
  }

  it("answers N claims 409 without the object; a hold cancelled inside the object is claimable again after the TTL", async () => {
    const { sale, holds, next, heardAt } = await soldOut(2, 7);
    await fastPathClaims(sale, next.slice(0, 5));

    // Cancelled in the object directly: this isolate is not told (the API route would tell it).
    const cancelled = await stub(sale).cancel(holds[0]!.id, holds[0]!.user);
    expect(cancelled).toMatchObject({ ok: true, value: { status: "cancelled" } });
    expect((await stats(sale)).stock).toMatchObject({ available: 1, held: 1 });
    // Right after, the edge still says sold out from its cache…
    await fastPathClaims(sale, [next[5]!]);
    // …and once its entry lapses, the unit can be claimed.
    await sleep(Math.max(0, heardAt + EDGE_CACHE_MS + 100 - Date.now()));
    const back = await claim(sale, next[5]!.token);
    expect(back.status).toBe(201);
    expect((await stats(sale)).stock).toMatchObject({ available: 0, held: 2 });
  });

  it("a hold expired by the object's alarm (not via the edge) is claimable again after the TTL", async () => {
    const { sale, holds, next, heardAt } = await soldOut(1, 3);
    await fastPathClaims(sale, [next[0]!]);
    // Make the hold due and run the object's alarm on the stub (not helpers' runAlarm, which
    // would also clear this isolate's cache).
    await runInDurableObject(stub(sale), (_i, state) => {
      state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ?", Date.now() - 1, holds[0]!.id);
    });
    expect(await runDurableObjectAlarm(stub(sale))).toBe(true);
    expect((await stats(sale)).holds).toMatchObject({ expired: 1, held: 0 });
    await fastPathClaims(sale, [next[1]!]);
    await sleep(Math.max(0, heardAt + EDGE_CACHE_MS + 100 - Date.now()));
    expect((await claim(sale, next[1]!.token)).status).toBe(201);
  });

  it("a claim for more than is left does not make the edge say sold out while units remain", async () => {
    const sale = await createSale({ stock_total: 3, per_user_limit: 2 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    expect((await claim(sale, a.token, idemKey(), { qty: 2 })).status).toBe(201);
    // One unit left: B's claim for two is refused by the object…
    const tooMany = await claim(sale, b.token, idemKey(), { qty: 2 });
    expectRefused(tooMany, 409, "sold_out");
    expect(tooMany.body.available).toBe(1);
    // …but the edge must not turn that into "sold out" for everyone: C gets the last unit.
    expect((await claim(sale, c.token)).status).toBe(201);
    expect((await counters(sale)).sold_out_fast_path).toBe(0);
  });

  it("GET /api/sales/:id polls are answered from the cache (the object's info() is not asked per poll)", async () => {
    const sale = await createSale();
    const infos = async () => (await stats(sale)).served.infos;
    const before = await infos();
    const t0 = Date.now();
    const res = await Promise.all(Array.from({ length: 60 }, () => call("GET", `/api/sales/${sale}`)));
    for (const r of res) {
      expect(r.status).toBe(200);
      expect(r.body.sale).toMatchObject({ id: sale, status: "open" });
      expect(r.headers.get("cache-control")).toBe("public, max-age=1");
    }
    // One load per cache period at most (one here, unless the burst straddled a refresh).
    expect((await infos()) - before).toBeLessThanOrEqual(1 + Math.floor((Date.now() - t0) / EDGE_CACHE_MS));
    // Unknown sales are cached too: a flood of 404s does not hammer an object.
    const ghost = `ghost-${crypto.randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 20; i++) expectRefused(await call("GET", `/api/sales/${ghost}`), 404, "not_found");
    expect((await stats(ghost)).served.infos).toBeLessThanOrEqual(2);
  });

  it("GET /api/sales/:id/queue polls do not reach the waiting room", async () => {
    const sale = await createSale({ admission_rate: 2 });
    const shoppers = await Promise.all(Array.from({ length: 20 }, () => session()));
    const tickets = [];
    for (const s of shoppers) {
      const r = await enqueue(sale, s.token);
      expect(r.status).toBe(201);
      tickets.push({ ...s, ticket: r.body.ticket as string });
    }
    const before = (await roomStats(sale)).served;
    const t0 = Date.now();
    const polls = await Promise.all(tickets.flatMap((t) => Array.from({ length: 5 }, () => poll(sale, t.token, t.ticket))));
    for (const p of polls) expect(p.status).toBe(200);
    // Still a line: those at the back are told their place, not admitted.
    expect(polls.some((p) => p.body.state === "waiting" && p.body.position > 0)).toBe(true);
    const after = (await roomStats(sale)).served;
    expect(after.joins).toBe(before.joins);
    expect(after.places).toBe(before.places);
    expect(after.watermarks - before.watermarks).toBeLessThanOrEqual(1 + Math.floor((Date.now() - t0) / EDGE_CACHE_MS));
  });
});
