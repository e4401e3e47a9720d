import { env } from "cloudflare:workers";
import { sign } from "hono/jwt";
import { beforeAll, describe, expect, it } from "vitest";
import type { TokenKind } from "../domain/schemas/tokens";
import { signToken, verifyToken } from "../src/lib/tokens";
import { A, holdA, type Opts, orderB, refusedWithoutWrite, setUpSales, u } from "./support/bad-input";
import { idemKey } from "./support/shoppers";
import { b64url, nowS as now, OTHER_SECRET } from "./support/tokens";
import { call } from "./support/worker";

beforeAll(setUpSales);

/** Ways to present a session for `user` that must all be refused (401). */
const BAD_SESSIONS: Record<string, (user: string) => Promise<Opts>> = {
  "no Authorization": async () => ({}),
  "Basic scheme": async () => ({ headers: { authorization: `Basic ${btoa("alice:pw")}` } }),
  "empty bearer": async () => ({ headers: { authorization: "Bearer " } }),
  "garbage bearer": async () => ({ token: "not-a-jwt" }),
  "forged (another secret)": async (sub) => ({
    token: await sign({ sub, iat: now(), exp: now() + 3600, aud: "flashsale:session" }, OTHER_SECRET, "HS256"),
  }),
  expired: async (sub) => ({
    token: await sign({ sub, iat: now() - 7200, exp: now() - 60, aud: "flashsale:session" }, env.TOKEN_SECRET, "HS256"),
  }),
  "issued in the future": async (sub) => ({
    token: await sign({ sub, iat: now() + 3600, exp: now() + 7200, aud: "flashsale:session" }, env.TOKEN_SECRET, "HS256"),
  }),
  "no audience": async (sub) => ({ token: await sign({ sub, iat: now(), exp: now() + 3600 }, env.TOKEN_SECRET, "HS256") }),
  "no expiry": async (sub) => ({ token: await sign({ sub, iat: now(), aud: "flashsale:session" }, env.TOKEN_SECRET, "HS256") }),
  "HS512 with the right secret": async (sub) => ({
    token: await sign({ sub, iat: now(), exp: now() + 3600, aud: "flashsale:session" }, env.TOKEN_SECRET, "HS512"),
  }),
  "alg none": async (sub) => ({
    token: `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub, iat: now(), exp: now() + 3600, aud: "flashsale:session" })}.`,
  }),
  "pass token as session": async (sub) => ({ token: (await signToken(env, "pass", { sub, sale: A })).token }),
  "ticket token as session": async (sub) => ({ token: (await signToken(env, "ticket", { sub, sale: A, b: 1, k: 1 })).token }),
  "challenge token as session": async (sub) => ({
    token: (await signToken(env, "challenge", { sub, sale: A, nonce: "n".repeat(16), bits: 0 })).token,
  }),
  "another user's token with sub swapped": async (sub) => {
    const [h, , s] = u.mallory.token.split(".");
    return { token: `${h}.${b64url({ sub, iat: now(), exp: now() + 3600, aud: "flashsale:session" })}.${s}` };
  },
  "sub too long (signed)": async () => ({ token: (await signToken(env, "session", { sub: "u".repeat(161) })).token }),
  "token over 2 KB": async () => ({ token: `${u.mallory.token}${"A".repeat(2100)}` }),
};

type Route = {
  name: string;
  method: string;
  path: () => string;
  owner: () => string;
  body?: unknown;
  headers?: () => Record<string, string>;
};

/** Every shopper route that needs a session, aimed at something its owner could really act on. */
const SESSION_ROUTES: Route[] = [
  {
    name: "POST /api/sales/:id/claim",
    method: "POST",
    path: () => `/api/sales/${A}/claim`,
    owner: () => u.carol.user,
    body: {},
    headers: () => ({ "idempotency-key": idemKey() }),
  },
  { name: "GET /api/holds/:id", method: "GET", path: () => `/api/holds/${holdA}`, owner: () => u.alice.user },
  { name: "DELETE /api/holds/:id", method: "DELETE", path: () => `/api/holds/${holdA}`, owner: () => u.alice.user },
  {
    name: "POST /api/holds/:id/pay",
    method: "POST",
    path: () => `/api/holds/${holdA}/pay`,
    owner: () => u.alice.user,
    body: { payment_method: "tok_ok" },
  },
  { name: "GET /api/orders/:id", method: "GET", path: () => `/api/orders/${orderB}`, owner: () => u.alice.user },
];

/**
 * Invariant 8 (sessions) and 9: every shopper route refuses a missing, forged, expired,
 * tampered or wrong-kind session with 401 JSON, before anything is read or written, even when
 * the token names the very owner of the hold/order.
 */
describe("shopper routes refuse bad sessions", () => {
  const rows = SESSION_ROUTES.flatMap((r) => Object.keys(BAD_SESSIONS).map((bad) => ({ name: `${r.name} · ${bad}`, r, bad })));
  it.each(rows)("$name → 401", async ({ r, bad }) => {
    const auth = await BAD_SESSIONS[bad]!(r.owner());
    await refusedWithoutWrite(
      () => call(r.method, r.path(), { ...auth, body: r.body, headers: { ...r.headers?.(), ...auth.headers } }),
      401,
      "unauthorized",
    );
  });

  it("sanity: the same routes accept the owner's real session (so the 401s above are about the token)", async () => {
    expect((await call("GET", `/api/holds/${holdA}`, { token: u.alice.token })).status).toBe(200);
    expect((await call("GET", `/api/orders/${orderB}`, { token: u.alice.token })).status).toBe(200);
  });
});

/** Invariant 8: a signed token of one kind is never accepted as another, and rotation keeps only our keys. */
describe("token kinds and keys (verifyToken)", () => {
  const KINDS: Record<TokenKind, Record<string, unknown>> = {
    session: { sub: "u1" },
    challenge: { sub: "u1", sale: "s", nonce: "n".repeat(16), bits: 4 },
    ticket: { sub: "u1", sale: "s", b: 3, k: 7 },
    pass: { sub: "u1", sale: "s" },
  };
  it.each(Object.keys(KINDS) as TokenKind[])("a %s token verifies only as itself", async (kind) => {
    const { token } = await signToken(env, kind, KINDS[kind] as never);
    for (const other of Object.keys(KINDS) as TokenKind[]) {
      const got = await verifyToken(env, other, token);
      if (other === kind) expect(got).toMatchObject(KINDS[kind]);
      else expect(got).toBeNull();
    }
    expect(await verifyToken({ TOKEN_SECRET: OTHER_SECRET }, kind, token)).toBeNull();
    const expired = await signToken(env, kind, KINDS[kind] as never, { ttlS: -1 });
    expect(await verifyToken(env, kind, expired.token)).toBeNull();
  });

  it("after rotation the previous secret still verifies, an unrelated one never does", async () => {
    const old = await signToken(env, "session", { sub: "u1" });
    const rotated = { TOKEN_SECRET: OTHER_SECRET, TOKEN_SECRET_PREVIOUS: env.TOKEN_SECRET };
    expect(await verifyToken(rotated, "session", old.token)).toMatchObject({ sub: "u1" });
    const stranger = await sign(
      { sub: "u1", iat: now(), exp: now() + 60, aud: "flashsale:session" },
      "yet-another-secret-0123456789abcdef0123",
      "HS256",
    );
    expect(await verifyToken(rotated, "session", stranger)).toBeNull();
  });
});
