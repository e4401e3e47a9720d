import { createRoute } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { notOpen, refusedForEveryone } from "../../domain/claim-gate";
import { settings } from "../../domain/config";
import { shardsOf } from "../edge/catalog";
import { identityIn } from "../edge/identity";
import { rememberSoldOut, saleInfo } from "../edge/sale-info";
import { homeInventory } from "../edge/shards";
import { answeredSoldOut, rememberToldSoldOut, soldOutResponse } from "../edge/sold-out";
import { ApiError, refuseIf, unwrap } from "../lib/api-error";
import * as fast from "../lib/fast-paths";
import { inventory } from "../../domain/objects";
import { asShopper, body, documented, header, json, mount, refusals } from "../lib/openapi";
import { valid } from "../lib/validate";
import { apiJson } from "../middleware/headers";
import { knownSale } from "../middleware/known-sale";
import { limitByIp } from "../middleware/rate-limit";
import { requirePass } from "../middleware/pass";
import { SHOPPER_REFUSALS, shopper } from "../middleware/shopper";
import { HoldAnswer, HoldsAnswer, SaleAnswer, WaitlistedAnswer } from "../../domain/schemas/answers";
import { ClaimBody, IdempotencyKey } from "../../domain/schemas/hold";
import { SaleId } from "../../domain/schemas/sale";

export const SaleParam = z.object({ id: SaleId });
type SaleInput = { out: { param: z.output<typeof SaleParam> } };

/**
 * The claim's Idempotency-Key, checked with its schema. Reads the one header: a validator over
 * `c.req.header()` copies every header first, which was ~5 % of a claim's CPU.
 */
const idempotencyKey = createMiddleware<AppEnv>(async (c, next) => {
  const value = c.req.header("idempotency-key");
  const key = fast.idempotencyKey(value);
  if (key !== undefined) {
    c.set("idempotencyKey", key);
    return next();
  }
  const r = IdempotencyKey.safeParse(value);
  if (!r.success) {
    const message = r.error.issues[0]!.message;
    throw new ApiError("invalid_request", `invalid header: idempotency-key: ${message}`, {
      issues: [{ path: "idempotency-key", message }],
    });
  }
  c.set("idempotencyKey", r.data);
  await next();
});

/**
 * Without a pass, a sale that is not open gets its reason from the cached view (with one, the
 * object decides: a replayed claim still returns its hold while paused).
 */
const openOrPassed = createMiddleware<AppEnv, string, SaleInput>(async (c, next) => {
  const sale = unwrap(await saleInfo(c.env, c.req.valid("param").id));
  // What the fast path in front of the router answers, now that this isolate knows.
  if (await answeredSoldOut(c.env, sale, c.req.header("x-pass"))) return soldOutResponse(c, sale);
  c.set("sale", sale);
  c.set("identity", identityIn(c.env, sale, c.get("user"), c.get("session"))); // an account sale refuses an anonymous session here
  if (!c.req.header("x-pass")) refuseIf(notOpen(sale.status, sale.starts_at));
  await next();
});

const info = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["shopper"],
  summary: "A sale, with availability",
  description: "Cached at the edge for about a second (`cache-control: public, max-age=1`).",
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam, fast.saleParam), limitByIp],
  responses: { 200: json(SaleAnswer, "the sale"), ...refusals("invalid_request", "rate_limited", "not_found", "unavailable") },
});

const mine = createRoute({
  method: "get",
  path: "/{id}/holds",
  tags: ["shopper"],
  summary: "The shopper's holds in this sale",
  description: "How a client whose claim answer was lost finds its hold.",
  security: asShopper,
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam, fast.saleParam), shopper, knownSale],
  responses: { 200: json(HoldsAnswer, "newest first"), ...refusals("invalid_request", ...SHOPPER_REFUSALS, "not_found", "unavailable") },
});

// The chain runs cheapest check first: the sale is loaded (cached) before the pass is verified.
const claim = createRoute({
  method: "post",
  path: "/{id}/claim",
  tags: ["shopper"],
  summary: "Claim units: a hold to pay for",
  description: "Needs a waiting-room pass (`X-Pass`). Idempotent by `Idempotency-Key`: a replay answers the same hold.",
  security: asShopper,
  parameters: [header.idempotencyKey, header.pass],
  request: { params: SaleParam, body: body(ClaimBody) },
  middleware: [
    valid("param", SaleParam, fast.saleParam),
    shopper,
    idempotencyKey,
    valid("json", ClaimBody, fast.claimBody),
    openOrPassed,
    requirePass,
  ],
  responses: {
    201: json(HoldAnswer, "a new hold: pay before `hold.expires_at`"),
    200: json(HoldAnswer, "the hold this key already got, or the shopper's active hold at their limit"),
    202: json(WaitlistedAnswer, "sold out, and the sale keeps a waitlist: claim again to see an offered hold"),
    ...refusals(
      "invalid_request",
      "unsupported_media_type",
      ...SHOPPER_REFUSALS,
      "pass_required",
      "not_found",
      "account_required",
      "sold_out",
      "limit_reached",
      "sale_closed",
      "not_open",
      "unavailable",
    ),
  },
});

export const sales = documented();

mount(sales, info, async (c) => {
  const sale = unwrap(await saleInfo(c.env, c.req.valid("param").id));
  c.header("cache-control", "public, max-age=1");
  // The shopper page shows the Turnstile widget only when the operator configured a site key,
  // and a "sign in at the shop" link for a sale that needs an account, and Stripe's Payment
  // Element only when the Stripe gateway has a publishable key.
  const s = settings(c.env);
  const stripeKey = s.GATEWAY === "stripe" ? s.STRIPE_PUBLISHABLE_KEY : "";
  return c.json(
    {
      sale,
      ...(s.TURNSTILE_SITE_KEY ? { turnstile_site_key: s.TURNSTILE_SITE_KEY } : {}),
      ...(sale.identity === "account" && s.SHOP_SIGNIN_URL ? { signin_url: s.SHOP_SIGNIN_URL } : {}),
      ...(stripeKey ? { stripe_publishable_key: stripeKey } : {}),
    },
    200,
  );
});

mount(sales, mine, async (c) => {
  const { id } = c.req.valid("param");
  const shards = (await shardsOf(c.env, id)) ?? 1;
  if (shards === 1) return c.json({ holds: unwrap(await inventory(c.env, id).holdsOf(c.get("user"))) }, 200);
  // A sharded sale: the shopper's holds are all at their home shard. A session that cannot claim
  // here (an anonymous one in an account sale) has none.
  const sale = unwrap(await saleInfo(c.env, id));
  let identity: string;
  try {
    identity = identityIn(c.env, sale, c.get("user"), c.get("session"));
  } catch {
    return c.json({ holds: [] }, 200);
  }
  return c.json({ holds: unwrap(await homeInventory(c.env, id, shards, identity).holdsOf(c.get("user"))) }, 200);
});

mount(sales, claim, async (c) => {
  const { id } = c.req.valid("param");
  const key = c.get("idempotencyKey");
  const { qty } = c.req.valid("json");
  // The shopper's home shard (the sale's one object unless it is sharded: domain/shards.ts).
  const shards = (await shardsOf(c.env, id)) ?? 1;
  const answer = await homeInventory(c.env, id, shards, c.get("identity")).claim({
    user: c.get("user"),
    identity: c.get("identity"),
    qty,
    key,
    turn: c.get("turn"),
  });
  // Only a real sell-out (not "fewer left than you asked for"), with the object's own held
  // count: the cached view's may predate the holds, and decides "sold out" vs "for now".
  if (!answer.ok && refusedForEveryone(answer)) {
    const info = await saleInfo(c.env, id);
    // (A shard's held count is its own: a sharded sale keeps the sum it has.)
    if (info.ok)
      rememberSoldOut(c.env, { ...info.value, held: shards === 1 ? Number(answer.extra?.held ?? info.value.held) : info.value.held });
    // This shopper holds nothing (else the object would have answered their hold).
    rememberToldSoldOut(id, c.get("user"));
  }
  const claimed = unwrap(answer);
  if (claimed.kind === "waitlisted") {
    return apiJson(
      {
        waitlisted: true as const,
        position: claimed.position,
        message: "sold out: you are on the waitlist; claim again to see an offered hold",
      },
      202,
    );
  }
  return apiJson({ hold: claimed.hold }, claimed.created ? 201 : 200);
});
