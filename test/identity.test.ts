import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { advanceClock, now } from "./support/clock";
import { expectRefused, roomStats } from "./support/edge";
import { assertion, newAccount } from "./support/identity";
import { nowS } from "./support/tokens";
import { createSale } from "./support/sales";
import { anonymousSession, claim, idemKey, passFor, session } from "./support/shoppers";
import { api, call, stats } from "./support/worker";

const startSession = (body: Record<string, unknown>, opts: { env?: Partial<Env>; headers?: Record<string, string> } = {}) =>
  call("POST", "/api/session", { body, ...opts });

let urls = 0;
/** A key set of the shop's own, at a URL of its own (each test starts with nothing cached). */
async function shopKeys(algs: ("RS256" | "ES256")[]) {
  const url = `https://shop.test/jwks.json?set=${Date.now()}-${urls++}`;
  const pairs = await Promise.all(
    algs.map(async (alg, i) => ({ alg, kid: `${alg}-${i}-${Date.now()}`, ...(await generateKeyPair(alg, { extractable: true })) })),
  );
  const publish = async (which: typeof pairs, down = false) => {
    const keys = await Promise.all(which.map(async (p) => ({ ...(await exportJWK(p.publicKey)), kid: p.kid, alg: p.alg, use: "sig" })));
    await fetch("https://shop.test/jwks", { method: "POST", body: JSON.stringify({ keys, down }) });
  };
  const sign = (p: (typeof pairs)[number], sub: string, over: { audience?: string } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: p.alg, kid: p.kid })
      .setSubject(sub)
      .setAudience(over.audience ?? "flashsale")
      .setIssuedAt(nowS())
      .setExpirationTime(nowS() + 300)
      .sign(p.privateKey);
  return { url, pairs, publish, sign, env: { SHOP_JWKS_URL: url } };
}

/** Issue 10, part 1: the session's shopper is the shop's account, checked with jose. */
describe("identity assertions from the shop", () => {
  it("a good assertion (HS256, the shared secret) makes a session for that account", async () => {
    const account = newAccount();
    const r = await startSession({ identity: await assertion(account) });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ account, user_id: `acct:${account}` });
  });

  it("refuses forged, expired, wrong-audience, wrong-issuer, unsigned, other-algorithm and malformed assertions, and makes no session", async () => {
    const account = newAccount();
    const unsigned =
      `${btoa(JSON.stringify({ alg: "none" }))}.${btoa(JSON.stringify({ sub: account, aud: "flashsale", exp: 9e9 }))}.`.replaceAll("=", "");
    const bad: Record<string, string> = {
      "signed with another secret": await assertion(account, { secret: "another-shop-secret-0123456789abcdefghij" }),
      expired: await assertion(account, { expiresIn: Math.floor(now() / 1000) - 120 }),
      "for another audience": await assertion(account, { audience: "another-app" }),
      unsigned,
      "HS512 with the right secret": await assertion(account, { alg: "HS512" }),
      "an account id with odd characters": await assertion("bob <script>"),
      "not a JWT": "hello",
      "a session token": (await session()).token,
    };
    for (const [what, identity] of Object.entries(bad)) {
      const r = await startSession({ identity });
      expect(r.status, what).toBe(401);
      expect(r.body.error, what).toBe("identity_invalid");
      expect(r.body.token, what).toBeUndefined();
    }
    // With an issuer configured, one for another issuer (or none) is refused too.
    const issuer = { env: { SHOP_IDENTITY_ISSUER: "https://shop.test" } };
    expect((await startSession({ identity: await assertion(account, { issuer: "https://evil.test" }) }, issuer)).body.error).toBe(
      "identity_invalid",
    );
    expect((await startSession({ identity: await assertion(account) }, issuer)).body.error).toBe("identity_invalid");
    expect((await startSession({ identity: await assertion(account, { issuer: "https://shop.test" }) }, issuer)).status).toBe(201);
  });

  it("RS256 and ES256 against the shop's key set; a rotation is picked up; a removed key is refused; the key set down is a 503", async () => {
    const ks = await shopKeys(["RS256", "ES256", "RS256"]);
    const [rsa, ec, next] = ks.pairs as [(typeof ks.pairs)[0], (typeof ks.pairs)[0], (typeof ks.pairs)[0]];
    await ks.publish([rsa, ec]);
    for (const p of [rsa, ec]) {
      const r = await startSession({ identity: await ks.sign(p, `acct-${p.alg}`) }, { env: ks.env });
      expect(r.status, p.alg).toBe(201);
      expect(r.body.account).toBe(`acct-${p.alg}`);
    }
    expect((await startSession({ identity: await ks.sign(rsa, "x", { audience: "another-app" }) }, { env: ks.env })).body.error).toBe(
      "identity_invalid",
    );
    // The shop rotates: a new key (new kid) replaces the RSA one.
    await ks.publish([next, ec]);
    advanceClock(5200); // the key set is asked again at most every 5 s (on the one clock)
    expect((await startSession({ identity: await ks.sign(next, "acct-next") }, { env: ks.env })).status).toBe(201);
    expect((await startSession({ identity: await ks.sign(rsa, "acct-old") }, { env: ks.env })).body.error).toBe("identity_invalid");
    // Another shop whose key set cannot be had: not the shopper's fault.
    const down = await shopKeys(["ES256"]);
    await down.publish(down.pairs, true);
    const r = await startSession({ identity: await down.sign(down.pairs[0]!, "acct-down") }, { env: down.env });
    expect(r.status).toBe(503);
    expect(r.body.error).toBe("unavailable");
  });

  it("an account sale refuses an anonymous session at every step, saying where to sign in", async () => {
    const sale = await createSale();
    const anon = await anonymousSession();
    const info = await api.sale(sale);
    expect(info.body.signin_url).toBe(env.SHOP_SIGNIN_URL);
    const steps = [
      await call("POST", `/api/sales/${sale}/challenge`, { token: anon.token }),
      await call("POST", `/api/sales/${sale}/queue`, { token: anon.token, body: { challenge: "x", solution: "0" } }),
      await call("POST", `/api/sales/${sale}/claim`, { token: anon.token, body: {}, headers: { "idempotency-key": idemKey() } }),
    ];
    for (const r of steps) {
      expectRefused(r, 401, "account_required");
      expect(r.body.signin_url).toBe(env.SHOP_SIGNIN_URL);
    }
  });

  it("two sessions of one account are one shopper: one place in line, one limit, one hold", async () => {
    const sale = await createSale({ stock_total: 5 });
    const account = newAccount();
    const [s1, s2] = await Promise.all([session({ account }), session({ account })]);
    const [j1, j2] = await Promise.all([api.join(sale, s1.token), api.join(sale, s2.token)]);
    expect(j1.body.place.key).toBe(j2.body.place.key);
    expect((await roomStats(sale)).in_line).toBe(1);
    const first = await claim(sale, s1.token);
    expect(first.status).toBe(201);
    const second = await claim(sale, s2.token); // another key, the other session
    expect(second.status).toBe(200);
    expect(second.body.hold.id).toBe(first.body.hold.id);
    expect((await stats(sale)).holds.held).toBe(1);
  });
});

/** Issue 10, part 2: an anonymous sale counts client networks, each with at most `network_cap` identities. */
describe("anonymous sales: Sybil costs", () => {
  it("holds the network cap under hundreds of parallel session, queue and claim requests from one network", async () => {
    const sale = await createSale({ identity: "anonymous", network_cap: 2, stock_total: 500, per_user_limit: 1 });
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    // 90 sessions + 90 challenges + 90 queues stay inside the network's 300 requests per 10 s.
    const sessions = await Promise.all(Array.from({ length: 90 }, () => anonymousSession(ip)));
    // The network's request budget answers some of them 429 first; those that get through share two places.
    const tries = await Promise.all(
      sessions.map((s) =>
        api
          .join(sale, s.token, {}, { headers: { "cf-connecting-ip": ip } })
          .catch((e: { answer?: { status: number; body: { error?: string } } }) => e),
      ),
    );
    const limited = tries.filter((t) => !("body" in t && t.body?.place));
    for (const t of limited) {
      const answer = ("answer" in t ? t.answer : t) as { status: number; body: { error?: string } };
      expect(answer.status, `only the rate limit may refuse: ${JSON.stringify(answer.body)}`).toBe(429);
    }
    const joins = tries.filter((t) => "body" in t && t.body?.place) as { status: number; body: { place: { key: string } } }[];
    expect(joins.length).toBeGreaterThan(2);
    expect(new Set(joins.map((j) => j.body.place.key)).size).toBeLessThanOrEqual(2);
    expect((await roomStats(sale)).in_line).toBeLessThanOrEqual(2);
    // Every one of them claims: the network gets at most cap × per_user_limit units.
    const claims = await Promise.all(sessions.map((s) => claim(sale, s.token)));
    expect(claims.filter((c) => c.status === 201).length).toBeLessThanOrEqual(2);
    expect((await stats(sale)).holds.held).toBeLessThanOrEqual(2);
    // Another network is not held back by it.
    const other = await anonymousSession("198.51.100.77");
    await passFor(sale, other.token);
    expect((await claim(sale, other.token)).status).toBe(201);
  });

  it("an IPv6 /64 is one network, whatever address inside it", async () => {
    const sale = await createSale({ identity: "anonymous", network_cap: 1, stock_total: 50 });
    const net = `2001:db8:${Math.floor(Math.random() * 65535).toString(16)}:1`;
    const sessions = await Promise.all(Array.from({ length: 20 }, (_, i) => anonymousSession(`${net}::${(i + 1).toString(16)}`)));
    const joins = await Promise.all(sessions.map((s) => api.join(sale, s.token)));
    expect(new Set(joins.map((j) => j.body.place.key)).size).toBe(1);
  });

  it("the proof of work costs more from a network that makes many sessions", async () => {
    const sale = await createSale({ identity: "anonymous", pow_difficulty: 4 });
    const busy = `192.0.2.${Math.floor(Math.random() * 250) + 1}`;
    const quiet = await anonymousSession("198.51.100.200");
    const bits = async (token: string, ip: string) =>
      (await call("POST", `/api/sales/${sale}/challenge`, { token, headers: { "cf-connecting-ip": ip } })).body.bits as number;
    expect(await bits(quiet.token, "198.51.100.200")).toBeLessThanOrEqual(5);
    const many = await Promise.all(Array.from({ length: 40 }, () => anonymousSession(busy)));
    const b = await bits(many[0]!.token, busy);
    expect(b).toBeGreaterThanOrEqual(4 + 5); // 40 sessions: log2(41) = 5 more bits, 32 times the work
    expect(b).toBeLessThanOrEqual(4 + 8);
  });

  it("session creation passes the User-Agent check and Turnstile when it is on", async () => {
    const bot = await call("POST", "/api/session", { headers: { "user-agent": "python-requests/2.31" } });
    expectRefused(bot, 403, "bot_suspected");
    const ts = { env: { TURNSTILE_SECRET: "turnstile-test-secret" } };
    expectRefused(await call("POST", "/api/session", ts), 403, "turnstile_failed");
    expectRefused(await startSession({ turnstile: "fail" }, ts), 403, "turnstile_failed");
    expect((await startSession({ turnstile: "pass" }, ts)).status).toBe(201);
  });
});
