import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { nowS } from "./tokens";

/**
 * The shop's side of account sales, as tests play it: an identity assertion for `account`,
 * signed with the shop's shared secret (SHOP_IDENTITY_SECRET, random per run) for the audience
 * the Worker expects, valid for ten minutes unless told otherwise (on the one clock).
 */
export function assertion(
  account: string,
  opts: { secret?: string; audience?: string; issuer?: string; expiresIn?: string | number; alg?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: opts.alg ?? "HS256" })
    .setSubject(account)
    .setAudience(opts.audience ?? "flashsale")
    .setIssuedAt(nowS())
    .setExpirationTime(opts.expiresIn ?? nowS() + 600);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? env.SHOP_IDENTITY_SECRET));
}

let n = 0;
/** A fresh account id, unique in this run. */
export const newAccount = (prefix = "acct") => `${prefix}-${Date.now().toString(36)}-${(n++).toString(36)}`;
