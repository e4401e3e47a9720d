import { settings } from "../../domain/config";
import type { SaleView } from "../../domain/schemas/sale";
import type { AppEnv } from "../app-env";
import { ApiError } from "../lib/api-error";

type Session = AppEnv["Variables"]["session"];

/** FNV-1a: a stable, cheap spread of a session id over a network's identities. */
function spread(s: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

/**
 * Who a shopper is in a sale, for its per-user limit, its line and its lottery: an identity that
 * costs something (docs/ARCHITECTURE.md, "Identity").
 *  - An account sale needs the shop's account: `acct:<id>`, the same for every session of it.
 *  - An anonymous sale takes an account if there is one, else the network the session was made
 *    from, split into at most `network_cap` identities: however many sessions one network makes,
 *    it has at most that many places in line and that many times the per-user limit in holds.
 */
export function identityIn(env: Env, sale: SaleView, user: string, session: Session): string {
  if (session.acct) return user;
  if (sale.identity === "account") {
    const signin = settings(env).SHOP_SIGNIN_URL;
    throw new ApiError(
      "account_required",
      `this sale needs a shop account: sign in at the shop${signin ? ` (${signin})` : ""}, then start a session with the shop's identity assertion`,
      { signin_url: signin },
    );
  }
  return `net:${session.net ?? "none"}:${spread(user, sale.network_cap)}`;
}
