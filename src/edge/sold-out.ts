import { soldOut, soldOutForEveryone } from "../../domain/claim-gate";
import { ERRORS } from "../../domain/result";
import type { SaleView } from "../../domain/schemas/sale";
import { PRIVATE_JSON } from "../lib/api-headers";
import { verifyToken } from "../lib/tokens";
import { countEdge, type EdgeCtx } from "./reports";
import { register } from "../lib/isolate-state";
import { LruMap } from "../lib/lru";
import { peekSale } from "./sale-info";

/**
 * The 409 every claim on a sold-out sale gets: the object's own refusal of a claim with nothing
 * left (domain/claim-gate.ts), and where a shopper whose answer was lost finds their hold.
 */
function soldOutBody(sale: SaleView) {
  const r = soldOut({ available: 0, held: sale.held }, 1, sale.release_policy)!;
  return { error: r.error, message: r.message, ...r.extra, your_holds: `/api/sales/${sale.id}/holds` };
}

// Any id: only sales this isolate has cached (so validated and real) can match.
const CLAIM = /^https?:\/\/[^/]+\/api\/sales\/([^/?#]+)\/claim(?:\?|$)/;
const answers = new WeakMap<SaleView, string>();

/**
 * The sold-out fast path, in front of the router: once this isolate knows (from the object,
 * within EDGE_CACHE_MS) that nothing is left, the crowd's claims are answered before any
 * routing, body read or hop. A waitlist sale still goes in: it takes names.
 *
 * "Same key, same hold" holds after the sell-out: a claim that carries a valid pass for this sale
 * goes on to the object, which returns the shopper's hold if they have one (a retry whose answer
 * was lost, or any retry after a crash). The crowd without a valid pass is answered here as
 * before; so is a pass holder the object already told "sold out" (`told`), so that
 * retries without a hold stay off the object too. Checking a pass is a cache hit for a pass this
 * isolate issued or saw, else one HMAC.
 */
export function soldOutFastPath(request: Request, ctx: EdgeCtx): Response | undefined | Promise<Response | undefined> {
  if (request.method !== "POST") return undefined;
  const id = CLAIM.exec(request.url)?.[1];
  const sale = id ? peekSale(id) : undefined;
  if (!sale || !soldOutForEveryone(sale)) return undefined;
  const answered = answeredSoldOut(ctx.env, sale, request.headers.get("x-pass"));
  if (typeof answered === "boolean") return answered ? soldOutResponse(ctx, sale) : undefined;
  return answered.then((yes) => (yes ? soldOutResponse(ctx, sale) : undefined));
}

/**
 * Whether a claim on this sold-out sale is answered "sold out" without the object: yes without
 * a valid pass for it, or for a pass holder the object already told; no for any other pass
 * holder (their claim may be a retry of one that got a hold). The same rule for the fast path and
 * the claim route.
 */
export function answeredSoldOut(env: Env, sale: SaleView, pass: string | null | undefined): boolean | Promise<boolean> {
  if (!soldOutForEveryone(sale)) return false;
  if (!pass) return true;
  return passHolder(env, sale.id, pass).then((sub) => sub === null || toldSoldOut(sale.id, sub));
}

/** The shopper a pass admits to this sale, or null if it is not a valid pass for it. */
export async function passHolder(env: Env, sale: string, pass: string): Promise<string | null> {
  const p = await verifyToken(env, "pass", pass);
  return p && p.sale === sale ? p.sub : null;
}

/**
 * Shoppers with a pass whom the object told "sold out" (so they hold nothing), per sale: their
 * retries are answered by the fast path while the sale stays sold out.
 */
const told = new LruMap<string, true>(50_000);
register("sold-out", () => told.clear());
const toldKey = (sale: string, user: string) => `${sale}\u0000${user}`;
/** The object answered this shopper "sold out" (they have no hold): their retries need not ask again. */
export function rememberToldSoldOut(sale: string, user: string): void {
  told.set(toldKey(sale, user), true);
}
const toldSoldOut = (sale: string, user: string) => told.get(toldKey(sale, user)) === true;

/** The answer itself (also given by the claim route once it has loaded the sale), counted. */
export function soldOutResponse(ctx: EdgeCtx, sale: SaleView): Response {
  countEdge(ctx, sale.id, "sold_out_fast_path");
  let body = answers.get(sale);
  if (body === undefined) answers.set(sale, (body = JSON.stringify(soldOutBody(sale))));
  // The answer is public, but only true for a moment: no cache keeps it (PRIVATE_JSON's no-store).
  return new Response(body, { status: ERRORS.sold_out, headers: PRIVATE_JSON });
}
