import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { now } from "../../domain/clock";
import { settings } from "../../domain/config";
import { usableSecret } from "../../domain/secrets";
import { ApiError } from "./api-error";

/** The account ids a shop may name: they end up in hold and order records. */
const ACCOUNT = /^[A-Za-z0-9._:@|+-]{1,128}$/;

/** How often an unknown `kid` may make the shop's key set be fetched again (a rotation). */
const REFETCH_COOLDOWN_MS = 5_000;

/**
 * The shop's key set, per URL, for the isolate's life: jose caches its keys (10 minutes); a token
 * naming a key it lacks (a rotation) fetches the set again, at most every 5 s. That cooldown is
 * kept here on the one clock (domain/clock.ts), not on jose's own (set to never), so tests
 * reach it by moving the clock.
 */
const keySets = new Map<string, JWTVerifyGetKey>();
const keySet = (url: string) => {
  let ks = keySets.get(url);
  if (!ks) {
    const remote = createRemoteJWKSet(new URL(url), { timeoutDuration: 3000, cooldownDuration: Infinity, cacheMaxAge: 600_000 });
    let fetchedAt = now();
    ks = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (e) {
        if (!(e instanceof errors.JWKSNoMatchingKey) || now() < fetchedAt + REFETCH_COOLDOWN_MS) throw e;
        fetchedAt = now();
        await remote.reload();
        return remote(header, token);
      }
    };
    keySets.set(url, ks);
  }
  return ks;
};

const refused = (why: string) =>
  new ApiError("identity_invalid", `the shop's identity assertion was refused: ${why}; sign in at the shop again`);

/**
 * The account the shop vouches for: `assertion` is a JWT the shop signed, with the shared secret
 * SHOP_IDENTITY_SECRET (HS256) or a key of its JWKS at SHOP_JWKS_URL (RS256, ES256), for the
 * audience SHOP_IDENTITY_AUDIENCE (and issuer SHOP_IDENTITY_ISSUER, if set), not expired, naming
 * the account as `sub`. Verified with `jose`; anything else is refused (401 identity_invalid).
 */
export async function shopAccount(env: Env, assertion: string): Promise<string> {
  const s = settings(env);
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(assertion).alg;
  } catch {
    throw refused("it is not a JWT");
  }
  const opts = {
    audience: s.SHOP_IDENTITY_AUDIENCE,
    ...(s.SHOP_IDENTITY_ISSUER ? { issuer: s.SHOP_IDENTITY_ISSUER } : {}),
    clockTolerance: 30,
    requiredClaims: ["sub", "exp"],
    currentDate: new Date(now()),
  };
  try {
    let payload: JWTPayload;
    if (alg === "HS256") {
      const secret = env.SHOP_IDENTITY_SECRET ? usableSecret("SHOP_IDENTITY_SECRET", env.SHOP_IDENTITY_SECRET) : null;
      if (!secret) throw refused("this shop does not sign identities with a shared secret");
      ({ payload } = await jwtVerify(assertion, new TextEncoder().encode(secret), { ...opts, algorithms: ["HS256"] }));
    } else if (alg === "RS256" || alg === "ES256") {
      if (!s.SHOP_JWKS_URL) throw refused("this shop does not publish a key set");
      ({ payload } = await jwtVerify(assertion, keySet(s.SHOP_JWKS_URL), { ...opts, algorithms: ["RS256", "ES256"] }));
    } else {
      throw refused(`the algorithm ${alg ?? "(none)"} is not accepted`);
    }
    if (typeof payload.sub !== "string" || !ACCOUNT.test(payload.sub)) throw refused("it names no account");
    return payload.sub;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    if (e instanceof errors.JWTExpired) throw refused("it has expired");
    if (e instanceof errors.JWTClaimValidationFailed) throw refused(`its \`${e.claim}\` claim is wrong`);
    // The shop's key set could not be had (down, slow, not a key set): not the shopper's fault.
    // (jose says a key set answered with an error status as its generic JOSEError.)
    if (
      e instanceof errors.JWKSTimeout ||
      e instanceof errors.JWKSInvalid ||
      !(e instanceof errors.JOSEError) ||
      e.code === "ERR_JOSE_GENERIC"
    ) {
      throw new ApiError("unavailable", "the shop's key set could not be reached: try again in a moment", {}, { "retry-after": "2" });
    }
    throw refused("its signature does not verify");
  }
}
