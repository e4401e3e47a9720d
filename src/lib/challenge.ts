import { leadingZeroBits, powDigest } from "../../domain/pow.js";
import { signToken, verifyToken, type TokenEnv } from "./tokens";

/**
 * Proof of work, stateless on the server: the challenge is a signed token carrying a random
 * nonce and the difficulty, bound to the shopper and the sale. Checking a solution costs one
 * signature check and one SHA-256. Single use is enforced where the solution is spent (the
 * waiting room records the nonce when it hands out a place).
 */
export async function issueChallenge(env: TokenEnv, user: string, sale: string, bits: number) {
  const nonce = crypto.randomUUID().replaceAll("-", "");
  const { token, expiresAt } = await signToken(env, "challenge", { sub: user, sale, nonce, bits });
  return { challenge: token, nonce, bits, expires_at: new Date(expiresAt).toISOString() };
}

/** The challenge's nonce and expiry if `solution` solves it for this user and sale, else null. */
export async function checkSolution(env: TokenEnv, challenge: string, solution: string, user: string, sale: string) {
  const c = await verifyToken(env, "challenge", challenge);
  if (!c || c.sub !== user || c.sale !== sale) return null;
  if (leadingZeroBits(await powDigest(c.nonce, solution)) < c.bits) return null;
  return { nonce: c.nonce, expiresAt: c.exp * 1000 };
}
