import { z } from "zod";

/**
 * The signed tokens a shopper carries (session, challenge, ticket, pass): their claims and
 * lifetimes. Signing and verifying is the edge's (src/lib/tokens.ts); the waiting room needs
 * the pass lifetime to know how long an admitted shopper stays active.
 */
export const TOKEN_TTL_S = { session: 24 * 3600, challenge: 120, ticket: 600, pass: 120 } as const;
export type TokenKind = keyof typeof TOKEN_TTL_S;

const Base = z.object({ sub: z.string().min(1).max(160), iat: z.number(), exp: z.number() });
const SaleBound = Base.extend({ sale: z.string() });
export const Claims = {
  // `acct`: the shop's account id, when the shop vouched for the shopper (then `sub` is
  // `acct:<acct>`); `net`: the network the session was made from (a digest), for anonymous sales.
  session: Base.extend({ acct: z.string().min(1).max(128).optional(), net: z.string().min(1).max(32).optional() }),
  challenge: SaleBound.extend({ nonce: z.string().min(16).max(64), bits: z.number().int().min(0).max(32) }),
  // The place in line (domain/line.ts: arrival bucket, key) and, once admitted, when (ms).
  ticket: SaleBound.extend({
    b: z.number().int().nonnegative(),
    k: z.number().int().nonnegative(),
    adm: z.number().int().positive().optional(),
  }),
  pass: SaleBound,
} satisfies Record<TokenKind, z.ZodType>;
export type ClaimsOf<K extends TokenKind> = z.infer<(typeof Claims)[K]>;
