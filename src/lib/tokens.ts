import { sign, verify } from "hono/jwt";
import { JwtTokenSignatureMismatched } from "hono/utils/jwt/types";
import type { z } from "zod";
import { now } from "../../domain/clock";
import { Claims, TOKEN_TTL_S, type ClaimsOf, type TokenKind } from "../../domain/schemas/tokens";
import { usableSecret } from "../../domain/secrets";
import { register } from "./isolate-state";
import { LruMap } from "./lru";
import { ApiError } from "./api-error";

/**
 * The one signing module: session, challenge, ticket and pass (domain/schemas/tokens.ts) are
 * HS256 JWTs whose `aud` names their kind, so one kind can never be presented as another. Keys:
 * TOKEN_SECRET signs and verifies; TOKEN_SECRET_PREVIOUS (optional) only verifies, so a key can
 * be rotated without logging every shopper out.
 */

/** A key set: the signing key and the one still accepted during a rotation. */
type Keys = { id: number; current: CryptoKey; previous?: CryptoKey };

/**
 * Tokens this isolate has signed or verified, by their exact text, with the kind and key set
 * they were checked as (`verified`): a shopper's session and pass are checked on every
 * request, and an HMAC check plus JSON decoding is most of an edge request's CPU. A hit is as good
 * as the check it replaces (same bytes, same kind, same keys) and is still refused once expired.
 * Keyed by the text itself: building a longer key on every request cost more than the lookup.
 */
const verified = new LruMap<string, { claims: unknown; exp: number; kind: string; keys: number; current: boolean }>(50_000);
/** Tokens this isolate signed, to re-serve while their claims are unchanged (stableToken, below). */
const signedTokens = new LruMap<string, { token: string; expiresAt: number }>(50_000);
/** Imported signing keys, per TOKEN_SECRET / TOKEN_SECRET_PREVIOUS pair seen (one or two): kept across resets. */
const keySets = new Map<string, Promise<Keys>>();
register("tokens", () => {
  verified.clear();
  signedTokens.clear();
});

function remembered(keys: Keys, kind: TokenKind, token: string): { claims: unknown; exp: number } | undefined {
  const hit = verified.get(token);
  return hit && hit.kind === kind && hit.keys === keys.id ? hit : undefined;
}

function importKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** The key set last used with each env object (the same object for an isolate's life). */
type EnvKeys = { secret: string | undefined; previous: string | undefined; keys: Promise<Keys>; ready?: Keys };
const envKeys = new WeakMap<object, EnvKeys>();

/** The entry for `env`'s secrets as they stand (a new one, importing, when they changed). */
function entryFor(env: TokenEnv): EnvKeys {
  const known = envKeys.get(env);
  if (known && known.secret === env.TOKEN_SECRET && known.previous === env.TOKEN_SECRET_PREVIOUS) return known;
  const entry: EnvKeys = { secret: env.TOKEN_SECRET, previous: env.TOKEN_SECRET_PREVIOUS, keys: keysOf(env) };
  entry.keys.then(
    (k) => (entry.ready = k),
    () => {},
  );
  envKeys.set(env, entry);
  return entry;
}

/**
 * The keys, without a wait once imported: every edge request checks a token, and awaiting even a
 * settled promise is a turn of the microtask queue.
 */
async function keysFor(env: TokenEnv): Promise<Keys> {
  const e = entryFor(env);
  return e.ready ?? e.keys;
}
const keysNow = (env: TokenEnv): Keys | undefined => entryFor(env).ready;

function keysOf(env: TokenEnv): Promise<Keys> {
  const current = usableSecret("TOKEN_SECRET", env.TOKEN_SECRET);
  if (!current) {
    throw new ApiError(
      "misconfigured",
      "the shop is not configured correctly (its signing key is missing or unsafe); the operator is told in the logs",
    );
  }
  // A refused previous key is left out: tokens signed with it are not accepted.
  const previous = (env.TOKEN_SECRET_PREVIOUS && usableSecret("TOKEN_SECRET_PREVIOUS", env.TOKEN_SECRET_PREVIOUS)) || undefined;
  const id = `${current}\u0000${previous ?? ""}`;
  let keys = keySets.get(id);
  if (!keys) {
    const n = keySets.size;
    keys = Promise.all([importKey(current), previous ? importKey(previous) : undefined]).then(([c, p]) => ({
      id: n,
      current: c,
      ...(p ? { previous: p } : {}),
    }));
    keySets.set(id, keys);
  }
  return keys;
}

export type TokenEnv = { TOKEN_SECRET?: string; TOKEN_SECRET_PREVIOUS?: string };

/**
 * A token of `kind` for `claims`, valid for the kind's lifetime, or `ttlS` seconds, or until the
 * instant `until` (epoch ms, rounded down to the second: never valid longer than asked).
 */
export async function signToken<K extends TokenKind>(
  env: TokenEnv,
  kind: K,
  claims: Omit<ClaimsOf<K>, "iat" | "exp">,
  life: { ttlS?: number; until?: number } = {},
): Promise<{ token: string; expiresAt: number }> {
  const keys = keysNow(env) ?? (await keysFor(env));
  const iat = Math.floor(now() / 1000);
  const exp = life.until !== undefined ? Math.floor(life.until / 1000) : iat + (life.ttlS ?? TOKEN_TTL_S[kind]);
  const payload = { ...claims, iat, exp, aud: `flashsale:${kind}` };
  const token = await sign(payload, keys.current, "HS256");
  // Remembered only if verifying it would accept it (the claims pass the kind's schema).
  const parsed = Claims[kind].safeParse(payload);
  if (parsed.success) verified.set(token, { claims: parsed.data, exp, kind, keys: keys.id, current: true });
  return { token, expiresAt: exp * 1000 };
}

/** hono/jwt's time rules (exp, iat, nbf, in whole seconds), read on domain/clock's time. */
function onTime(claims: { iat: number; exp: number }, nbf: unknown): boolean {
  const nowS = Math.floor(now() / 1000);
  if (nbf !== undefined && !(typeof nbf === "number" && nbf <= nowS)) return false;
  return claims.exp > nowS && claims.iat <= nowS;
}

/** How far a re-served ticket's end may lag a freshly signed one's: its expiry moves in steps of this. */
export const STABLE_STEP_S = 300;

/**
 * The same token as last time for the same claims and the same end: a status poll would otherwise
 * sign a new ticket (and pass) on every call, only to move its expiry a few seconds (an HMAC and
 * the JSON around it were the poll's largest cost). A token with an end (`until`, a pass) is
 * signed once per isolate; one with a lifetime (a ticket) ends on a STABLE_STEP_S boundary, so it
 * is re-signed at most once a step and always has more than its lifetime less a step to live. A
 * new place or state (other claims) is a new token at once.
 *
 * `sent`: the token the client sent for these claims (a poll's ticket). If it is the very token
 * that would be served (checked here, signed with the current key, the same claims and end) it is
 * served back as it is, without building a look-up key at all.
 */
export async function stableToken<K extends TokenKind>(
  env: TokenEnv,
  kind: K,
  claims: Omit<ClaimsOf<K>, "iat" | "exp">,
  life: { until?: number } = {},
  sent?: string,
): Promise<{ token: string; expiresAt: number }> {
  const keys = keysNow(env) ?? (await keysFor(env));
  const nowS = Math.floor(now() / 1000);
  const exp =
    life.until !== undefined ? Math.floor(life.until / 1000) : Math.floor(nowS / STABLE_STEP_S) * STABLE_STEP_S + TOKEN_TTL_S[kind];
  if (sent !== undefined && exp > nowS) {
    const hit = verified.get(sent);
    if (hit?.current && hit.kind === kind && hit.keys === keys.id && hit.exp === exp && sameClaims(hit.claims, claims)) {
      return { token: sent, expiresAt: exp * 1000 };
    }
  }
  const key = `${keys.id}.${kind}.${exp}.${JSON.stringify(claims)}`;
  const hit = signedTokens.get(key);
  if (hit && hit.expiresAt > nowS * 1000) return hit;
  const signed = await signToken(env, kind, claims, { until: exp * 1000 });
  signedTokens.set(key, signed);
  return signed;
}

/** Whether checked claims (with iat and exp) are `claims` (without them): the same keys, the same values. */
function sameClaims(checked: unknown, claims: object): boolean {
  const c = checked as Record<string, unknown>;
  const want = claims as Record<string, unknown>;
  let n = 0;
  for (const k in want) {
    if (c[k] !== want[k]) return false;
    n++;
  }
  for (const k in c) if (k !== "iat" && k !== "exp") n--;
  return n === 0;
}

/** The token's claims, or null if it is malformed, forged, expired or of another kind. */
export async function verifyToken<K extends TokenKind>(env: TokenEnv, kind: K, token: string | undefined | null) {
  if (!token || token.length > 2048) return null;
  const keys = keysNow(env) ?? (await keysFor(env));
  const hit = remembered(keys, kind, token);
  if (hit) return hit.exp * 1000 > now() ? (hit.claims as ClaimsOf<K>) : null;
  // The times are checked on the one clock (below), not on the library's own.
  const opts = { alg: "HS256" as const, aud: `flashsale:${kind}`, exp: false, iat: false, nbf: false };
  let payload: unknown;
  let current = true;
  try {
    payload = await verify(token, keys.current, opts);
  } catch (e) {
    if (!(e instanceof JwtTokenSignatureMismatched) || !keys.previous) return null;
    try {
      payload = await verify(token, keys.previous, opts);
      current = false;
    } catch {
      return null;
    }
  }
  const parsed = (Claims[kind] as unknown as z.ZodType<ClaimsOf<K>>).safeParse(payload);
  if (!parsed.success || !onTime(parsed.data, (payload as { nbf?: unknown }).nbf)) return null;
  verified.set(token, { claims: parsed.data, exp: parsed.data.exp, kind, keys: keys.id, current });
  return parsed.data;
}
