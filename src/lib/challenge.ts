import { leadingZeroBits, powDigest } from "../../domain/pow.js";
import { register } from "./isolate-state";
import { LruMap } from "./lru";
import { signToken, verifyToken, type TokenEnv } from "./tokens";

/**
 * Proof of work, stateless on the server: the challenge is a signed token carrying a random
 * nonce and the difficulty, bound to the shopper and the sale. Checking a solution costs one
 * signature check and one SHA-256 (the SHA-256 once per isolate for a solution sent again).
 * Single use is enforced where the solution is spent (the waiting room records the nonce when it
 * hands out a place).
 */
export async function issueChallenge(env: TokenEnv, user: string, sale: string, bits: number) {
  const nonce = crypto.randomUUID().replaceAll("-", "");
  const { token, expiresAt } = await signToken(env, "challenge", { sub: user, sale, nonce, bits });
  return { challenge: token, nonce, bits, expires_at: new Date(expiresAt).toISOString() };
}

/**
 * Good solutions this isolate has checked, by their challenge's text: a shopper who sends the
 * same solved challenge again (a retry; replaying it buys nothing, the place is the identity's)
 * is spared the SHA-256. The challenge itself is still checked every time (signature, expiry,
 * shopper, sale: a cached check in lib/tokens.ts).
 */
const solvedBy = new LruMap<string, string>(20_000);
register("challenges", () => solvedBy.clear());

/** The challenge's nonce and expiry if `solution` solves it for this user and sale, else null. */
export async function checkSolution(env: TokenEnv, challenge: string, solution: string, user: string, sale: string) {
  const c = await verifyToken(env, "challenge", challenge);
  if (!c || c.sub !== user || c.sale !== sale) return null;
  if (solvedBy.get(challenge) !== solution) {
    if (leadingZeroBits(await powDigest(c.nonce, solution)) < c.bits) return null;
    solvedBy.set(challenge, solution);
  }
  return { nonce: c.nonce, expiresAt: c.exp * 1000 };
}
