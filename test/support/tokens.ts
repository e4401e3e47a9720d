import { env } from "cloudflare:workers";
import { decode, sign } from "hono/jwt";
import { now } from "./clock";

/** A secret of the right length that is not the server's. */
export const OTHER_SECRET = "not-the-server-secret-0123456789abcdef0123";

export const b64url = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
/** Now on the one clock, in JWT seconds. */
export const nowS = () => Math.floor(now() / 1000);

type Kind = "session" | "challenge" | "ticket" | "pass";
/** A token as the server would sign it, but with whatever claims, secret and expiry we like. */
export function forge(kind: Kind, claims: Record<string, unknown>, opts: { secret?: string; expIn?: number } = {}) {
  const now = nowS();
  return sign(
    { iat: now - 5, exp: now + (opts.expIn ?? 600), aud: `flashsale:${kind}`, ...claims },
    opts.secret ?? env.TOKEN_SECRET,
    "HS256",
  );
}

/** The same signature over edited claims (what a shopper editing their token would send). */
export function tamper(token: string, edit: (p: Record<string, unknown>) => void) {
  const [h, , s] = token.split(".");
  const payload = decode(token).payload as Record<string, unknown>;
  edit(payload);
  return `${h}.${b64url(payload)}.${s}`;
}

/** An unsigned token (`alg: none`). */
export const unsigned = (token: string) => `${b64url({ alg: "none", typ: "JWT" })}.${token.split(".")[1]}.`;
