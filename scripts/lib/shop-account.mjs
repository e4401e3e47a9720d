// The shop's side of an account sale, as local scripts play it (rehearsal, bench, `npm run shop`):
// an identity assertion for an account, signed with the shop's shared secret (SHOP_IDENTITY_SECRET)
// for the audience the Worker checks. The same thing the demo sign-in page does for a browser.
import { SignJWT } from "jose";

/**
 * Returns a signer: `sign(account)` → a JWT valid for `ttl` (default ten minutes), for `audience`
 * (SHOP_IDENTITY_AUDIENCE) and, when the Worker checks one, `issuer` (SHOP_IDENTITY_ISSUER).
 */
/** @param {string} secret @param {{ audience?: string, issuer?: string, ttl?: string }} [o] */
export function shopSigner(secret, { audience = "flashsale", issuer, ttl = "10m" } = {}) {
  if (!secret) throw new Error("shopSigner: no SHOP_IDENTITY_SECRET (account sales need the shop's secret)");
  const key = new TextEncoder().encode(secret);
  return (account) => {
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(account)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(ttl);
    return (issuer ? jwt.setIssuer(issuer) : jwt).sign(key);
  };
}
