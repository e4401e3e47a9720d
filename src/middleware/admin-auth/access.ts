import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { now } from "../../../domain/clock";
import type { Settings } from "../../../domain/config";

/**
 * Cloudflare Access in front of the admin API and the dashboard, checked at the edge as
 * Cloudflare recommends: every request that came through Access carries the application token
 * in `Cf-Access-Jwt-Assertion`, an RS256 JWT signed with the team's keys (published at
 * `https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`, rotated every 6 weeks), issued by
 * the team domain for the application's AUD tag. Verifying it here means a request that reached
 * the Worker some other way (the workers.dev address, a route Access does not cover) is refused.
 */
export const ACCESS_HEADER = "cf-access-jwt-assertion";

export type AccessConfig = { issuer: string; aud: string };

/**
 * The Access settings: null when Access is off (neither var set), a reason when only one is set
 * or the team domain is not a host name. `myteam`, `myteam.cloudflareaccess.com` and its https
 * URL all name the same team.
 */
export function accessConfig(s: Pick<Settings, "ACCESS_TEAM_DOMAIN" | "ACCESS_AUD">): AccessConfig | { problem: string } | null {
  const domain = s.ACCESS_TEAM_DOMAIN.replace(/^https:\/\//, "").replace(/\/+$/, "");
  if (!domain && !s.ACCESS_AUD) return null;
  if (!domain || !s.ACCESS_AUD) return { problem: "Cloudflare Access needs both ACCESS_TEAM_DOMAIN and ACCESS_AUD" };
  const host = domain.includes(".") ? domain : `${domain}.cloudflareaccess.com`;
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(host)) return { problem: `ACCESS_TEAM_DOMAIN is not a host name: ${s.ACCESS_TEAM_DOMAIN}` };
  return { issuer: `https://${host}`, aud: s.ACCESS_AUD };
}

export type AccessVerdict =
  | { ok: true; payload: JWTPayload }
  /** The token is not good: the caller's fault (401). */
  | { ok: false; refused: string }
  /** The keys could not be had: nobody's fault (503, retry). */
  | { ok: false; unavailable: string };

/** What each of jose's refusals means to an operator (anything else is a key-fetch failure). */
/** Access key sets, per team (one, unless the settings change); kept across resets, like the keys they fetch. */
const accessKeys = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

const REFUSED: Record<string, string> = {
  ERR_JWT_EXPIRED: "the Access token has expired: sign in again",
  ERR_JWT_CLAIM_VALIDATION_FAILED: "the Access token is not for this application (issuer, audience or time)",
  ERR_JWKS_NO_MATCHING_KEY: "the Access token is not signed by this team's Access keys",
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: "the Access token names no single key of this team",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "the Access token's signature is wrong",
  ERR_JWS_INVALID: "the Access token is malformed",
  ERR_JWT_INVALID: "the Access token is malformed",
  ERR_JOSE_ALG_NOT_ALLOWED: "the Access token is not RS256",
  ERR_JOSE_NOT_SUPPORTED: "the Access token is malformed",
};

/**
 * Verifies an Access token. The team's key set is fetched once per isolate and kept (jose's
 * remote key set: cached for 10 minutes, fetched again at most every 30 s when a token names a
 * key it does not have, which is how a rotation is picked up).
 */
export async function verifyAccess(token: string, cfg: AccessConfig): Promise<AccessVerdict> {
  let keys = accessKeys.get(cfg.issuer);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(`${cfg.issuer}/cdn-cgi/access/certs`), { timeoutDuration: 3000 });
    accessKeys.set(cfg.issuer, keys);
  }
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: cfg.issuer,
      audience: cfg.aud,
      algorithms: ["RS256"],
      currentDate: new Date(now()),
    });
    return { ok: true, payload };
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    if (code in REFUSED) return { ok: false, refused: REFUSED[code]! };
    return { ok: false, unavailable: `the Access keys could not be fetched from ${cfg.issuer}: ${String(e)}` };
  }
}
