import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { expectRefused } from "./support/edge";
import { nowS } from "./support/tokens";
import { createSale } from "./support/sales";
import { call, ops, randomIp } from "./support/worker";

/**
 * Cloudflare Access in front of the admin API (src/middleware/admin-auth/access.ts): with
 * ACCESS_TEAM_DOMAIN and ACCESS_AUD set, an admin request needs the application token Access
 * adds (`Cf-Access-Jwt-Assertion`), verified against the team's published keys, issuer and AUD;
 * the bearer token no longer opens anything. The team's certs endpoint is the fake in
 * vitest.config.ts (its key signs the tokens below): no test reaches Cloudflare.
 */
const TEAM = "flashsale-test.cloudflareaccess.com";
const ISSUER = `https://${TEAM}`;
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const ACCESS = { ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD };

const teamKey = JSON.parse(env.TEST_ACCESS_KEY) as JWK & { kid: string };

type Signed = { iss?: string; aud?: string | string[]; exp?: number | string; key?: CryptoKey; kid?: string; alg?: string };
async function accessToken(o: Signed = {}): Promise<string> {
  const key = o.key ?? ((await importJWK(teamKey, "RS256")) as CryptoKey);
  return new SignJWT({ email: "operator@example.com", type: "app", identity_nonce: "n0" })
    .setProtectedHeader({ alg: o.alg ?? "RS256", kid: o.kid ?? teamKey.kid })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? [AUD])
    .setSubject("7335d417-61da-459d-899c-0a01c76a2f94")
    .setIssuedAt(nowS())
    .setExpirationTime(o.exp ?? nowS() + 600)
    .sign(key);
}

/** An admin request with Access on (`env` overrides this request's settings). */
function viaAccess(method: string, path: string, o: { jwt?: string; token?: string; ip?: string; env?: Partial<Env> } = {}) {
  const headers: Record<string, string> = { "cf-connecting-ip": o.ip ?? randomIp() };
  if (o.jwt) headers["cf-access-jwt-assertion"] = o.jwt;
  return call(method, `/admin${path}`, { token: o.token, headers, env: { ...ACCESS, ...o.env } });
}

const certsFetched = async () => ((await (await fetch(`https://${TEAM}/requests`)).json()) as { certs: number }).certs;

describe("admin routes behind Cloudflare Access", () => {
  it("a valid Access token opens them without the bearer token; the keys are fetched once, not per request", async () => {
    const sale = await createSale();
    const jwt = await accessToken();
    const first = await viaAccess("GET", "/sales", { jwt });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.sales.some((s: { sale: { id: string } }) => s.sale.id === sale)).toBe(true);
    const fetched = await certsFetched();
    expect(fetched).toBeGreaterThanOrEqual(1);
    const paused = await viaAccess("POST", `/sales/${sale}/pause`, { jwt });
    expect(paused.status).toBe(200);
    expect(paused.body.sale.status).toBe("paused");
    expect((await viaAccess("GET", `/sales/${sale}`, { jwt })).status).toBe(200);
    expect(await certsFetched()).toBe(fetched);
    // The team domain may be given as its URL too.
    expect((await viaAccess("GET", "/sales", { jwt, env: { ACCESS_TEAM_DOMAIN: `${ISSUER}/` } })).status).toBe(200);
  });

  it("refuses a request that did not come through Access, even with the right bearer token", async () => {
    expectRefused(await viaAccess("GET", "/sales"), 401, "unauthorized");
    const withToken = await viaAccess("GET", "/sales", { token: env.ADMIN_TOKEN });
    expectRefused(withToken, 401, "unauthorized");
    expect(withToken.body.message).toMatch(/Cloudflare Access/);
    // Access off (the default): the same bearer token works.
    expect((await ops.list()).status).toBe(200);
  });

  const other = async () => (await generateKeyPair("RS256", { extractable: true })).privateKey;
  const bad: [string, () => Promise<string>, RegExp][] = [
    ["expired", () => accessToken({ exp: nowS() - 60 }), /expired/],
    ["for another application (aud)", () => accessToken({ aud: ["another-app-aud"] }), /not for this application/],
    ["from another team (iss)", () => accessToken({ iss: "https://evil.cloudflareaccess.com" }), /not for this application/],
    [
      "signed by a key the team does not publish",
      async () => accessToken({ key: await other(), kid: "not-a-team-key" }),
      /not signed by this team/,
    ],
    ["signed by another key under the team key's id", async () => accessToken({ key: await other() }), /signature/],
    [
      "HS256 with a guessable secret",
      async () => accessToken({ key: new TextEncoder().encode("secret") as unknown as CryptoKey, alg: "HS256" }),
      /RS256|malformed/,
    ],
    ["not a JWT", async () => "not.a.jwt", /malformed/],
  ];
  it.each(bad)("refuses an Access token %s", async (_name, make, message) => {
    const sale = await createSale();
    const r = await viaAccess("POST", `/sales/${sale}/close`, { jwt: await make() });
    expectRefused(r, 401, "unauthorized");
    expect(r.body.message).toMatch(message);
    expect((await ops.stats(sale)).body.sale.status).toBe("open");
  });

  it("wrong Access tokens count toward the lockout; keys out of reach are a 503 that does not", async () => {
    const ip = randomIp();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await viaAccess("GET", "/sales", { ip, jwt: "not.a.jwt" })).status);
    expect(statuses.slice(0, 10)).toEqual(new Array(10).fill(401));
    expect(statuses[10]).toBe(429);
    // Now locked out: even a valid token is refused for a minute.
    expect((await viaAccess("GET", "/sales", { ip, jwt: await accessToken() })).status).toBe(429);

    const ip2 = randomIp();
    const jwt = await accessToken();
    for (let i = 0; i < 12; i++) {
      const r = await viaAccess("GET", "/sales", { ip: ip2, jwt, env: { ACCESS_TEAM_DOMAIN: "down-test.cloudflareaccess.com" } });
      expectRefused(r, 503, "unavailable");
      expect(r.headers.get("retry-after")).toBe("5");
    }
  });

  it("half a configuration is refused as misconfigured, never opened", async () => {
    const jwt = await accessToken();
    expectRefused(await viaAccess("GET", "/sales", { jwt, token: env.ADMIN_TOKEN, env: { ACCESS_AUD: "" } }), 503, "misconfigured");
    expectRefused(await viaAccess("GET", "/sales", { jwt, token: env.ADMIN_TOKEN, env: { ACCESS_TEAM_DOMAIN: "" } }), 503, "misconfigured");
    expectRefused(await viaAccess("GET", "/sales", { jwt, env: { ACCESS_TEAM_DOMAIN: "not a host/../x" } }), 503, "misconfigured");
  });

  it("the published key is the one that verifies (the fake team's JWKS is the real shape)", async () => {
    const jwks = (await (await fetch(`${ISSUER}/cdn-cgi/access/certs`)).json()) as { keys: JWK[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: teamKey.kid, kty: "RSA", alg: "RS256" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
    expect(await exportJWK(await importJWK(jwks.keys[0]!, "RS256"))).toMatchObject({ n: teamKey.n, e: teamKey.e });
  });
});
