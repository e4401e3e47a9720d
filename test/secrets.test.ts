import { env } from "cloudflare:workers";
import { sign } from "hono/jwt";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { secretProblem } from "../domain/secrets";
import { nowS } from "./support/tokens";
import { createSale } from "./support/sales";
import { call } from "./support/worker";

/** Values once published with this project (the old .dev.vars.example and test config). */
const PUBLISHED = {
  ADMIN_TOKEN: ["dev-admin-token", "test-admin-token-0123456789"],
  TOKEN_SECRET: ["dev-token-secret-change-me-0123456789abcdef", "test-token-secret-0123456789abcdef0123456789"],
};
/** What an attacker who read the repository would try: the values and their spellings. */
const variants = (v: string) => [v, v.toUpperCase(), ` ${v} `, `${v}\n`, `${v}-prod`, `x${v}x`.padEnd(48, "!")];
const random = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");

const withEnv = (overrides: Partial<Env>) => ({ env: overrides });
const session = (overrides: Partial<Env> = {}) => call("POST", "/api/session", withEnv(overrides));
const adminGet = (token: string, overrides: Partial<Env> = {}) =>
  call("GET", "/admin/sales/nothing-here", { token, ...withEnv(overrides) });

/** A session token signed with `secret`, as a forger who knows it would make one. */
const forged = (secret: string) => {
  const now = nowS();
  return sign({ sub: "u-forged", iat: now, exp: now + 600, aud: "flashsale:session" }, secret, "HS256");
};

/**
 * Audit item 1: published example secrets must not work, nor short or patterned ones, for all
 * three secrets. The refusal is logged once with the fix; the shop answers 503, the admin API 403.
 */
describe("secrets that anyone can know are refused", () => {
  let spy: MockInstance<typeof console.error>;
  beforeAll(() => void (spy = vi.spyOn(console, "error").mockImplementation(() => {})));
  afterAll(() => spy.mockRestore());
  const logged = () => spy.mock.calls.map((a) => String(a[0])).filter((l) => l.includes('"secret_refused"'));

  it("the check refuses published values in every spelling, short keys and patterns; random keys pass", () => {
    for (const [name, values] of Object.entries(PUBLISHED) as [keyof typeof PUBLISHED, string[]][]) {
      for (const v of values.flatMap(variants)) expect(secretProblem(name, v), `${name}=${JSON.stringify(v)}`).not.toBeNull();
    }
    for (const name of ["ADMIN_TOKEN", "TOKEN_SECRET", "TOKEN_SECRET_PREVIOUS"] as const) {
      expect(secretProblem(name, undefined)).toMatch(/not set/);
      expect(secretProblem(name, "a".repeat(64))).toMatch(/different characters/);
      expect(secretProblem(name, "0123456789abcdef".repeat(4))).toMatch(/published|different/);
      expect(secretProblem(name, random(8))).toMatch(/shorter/);
      expect(secretProblem(name, random(24))).toBeNull();
    }
  });

  it("TOKEN_SECRET: with a published or short key the shop signs nothing (503) and says why in the log", async () => {
    for (const bad of [...variants(PUBLISHED.TOKEN_SECRET[0]!), "short-secret", "x".repeat(40)]) {
      spy.mockClear();
      const res = await session({ TOKEN_SECRET: bad });
      expect(res.status, JSON.stringify(bad)).toBe(503);
      expect(res.body.error).toBe("misconfigured");
      expect(res.body.token).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain("TOKEN_SECRET"); // the detail is for the operator
    }
    expect(logged().some((l) => l.includes("TOKEN_SECRET") && l.includes("wrangler secret put TOKEN_SECRET"))).toBe(true);
  });

  it("TOKEN_SECRET: a session forged with the published example key is worth nothing", async () => {
    const sale = await createSale();
    const token = await forged(PUBLISHED.TOKEN_SECRET[0]!);
    // Against a server configured with that key: it refuses to serve at all.
    const mis = await call("POST", `/api/sales/${sale}/challenge`, { token, env: { TOKEN_SECRET: PUBLISHED.TOKEN_SECRET[0]! } });
    expect(mis.status).toBe(503);
    // Against a properly configured one: the signature does not verify.
    expect((await call("POST", `/api/sales/${sale}/challenge`, { token })).status).toBe(401);
  });

  it("TOKEN_SECRET_PREVIOUS: a published or short previous key is not accepted, the current one still is", async () => {
    const sale = await createSale({ identity: "anonymous" }); // the forged sessions below are anonymous
    const ok = await session();
    expect(ok.status).toBe(201);
    for (const previous of [PUBLISHED.TOKEN_SECRET[0]!, PUBLISHED.TOKEN_SECRET[1]!.toUpperCase(), "too-short"]) {
      spy.mockClear();
      const over = { TOKEN_SECRET_PREVIOUS: previous };
      const token = await forged(previous);
      expect((await call("POST", `/api/sales/${sale}/challenge`, { token, ...withEnv(over) })).status).toBe(401);
      // The shop still works with its current key.
      expect((await call("POST", `/api/sales/${sale}/challenge`, { token: ok.body.token, ...withEnv(over) })).status).toBe(200);
      expect(logged().some((l) => l.includes("TOKEN_SECRET_PREVIOUS"))).toBe(true);
    }
    // A real previous key (random, rotated out) is accepted, as rotation needs.
    const old = random(32);
    expect(
      (await call("POST", `/api/sales/${sale}/challenge`, { token: await forged(old), env: { TOKEN_SECRET_PREVIOUS: old } })).status,
    ).toBe(200);
  });

  it("ADMIN_TOKEN: a published, short or patterned token closes the admin API, even to a caller who sends it", async () => {
    for (const bad of [...variants(PUBLISHED.ADMIN_TOKEN[0]!), ...variants(PUBLISHED.ADMIN_TOKEN[1]!), "short-admin", "z".repeat(30)]) {
      spy.mockClear();
      const res = await adminGet(bad, { ADMIN_TOKEN: bad });
      expect(res.status, JSON.stringify(bad)).toBe(403);
      expect(res.body.error).toBe("forbidden");
      expect(res.body.message).toMatch(/ADMIN_TOKEN/);
    }
    expect(logged().some((l) => l.includes("ADMIN_TOKEN") && l.includes("wrangler secret put ADMIN_TOKEN"))).toBe(true);
    // The configured random token works.
    expect((await adminGet(env.ADMIN_TOKEN)).status).toBe(404);
  });
});
