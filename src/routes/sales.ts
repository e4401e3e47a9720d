import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { settings } from "../../domain/config";
import { rememberSoldOut, saleInfo } from "../edge/sale-info";
import { soldOut, soldOutResponse } from "../edge/sold-out";
import { ApiError, unwrap } from "../lib/api-error";
import { inventory } from "../../domain/objects";
import { valid } from "../lib/validate";
import { limitByIp } from "../middleware/rate-limit";
import { requirePass } from "../middleware/pass";
import { shopper } from "../middleware/shopper";
import { ClaimBody, IdempotencyKey } from "../../domain/schemas/hold";
import { SaleId } from "../../domain/schemas/sale";

export const SaleParam = z.object({ id: SaleId });

/**
 * The claim's Idempotency-Key, checked with its schema. Reads the one header: a validator over
 * `c.req.header()` copies every header first, which was ~5 % of a claim's CPU.
 */
const idempotencyKey = createMiddleware<AppEnv>(async (c, next) => {
  const r = IdempotencyKey.safeParse(c.req.header("idempotency-key"));
  if (!r.success) {
    const message = r.error.issues[0]!.message;
    throw new ApiError("invalid_request", `invalid header: idempotency-key: ${message}`, { issues: [{ path: "idempotency-key", message }] });
  }
  c.set("idempotencyKey", r.data);
  await next();
});

export const sales = new Hono<AppEnv>()
  .get("/:id", valid("param", SaleParam), limitByIp, async (c) => {
    const sale = unwrap(await saleInfo(c.env, c.req.valid("param").id));
    c.header("cache-control", "public, max-age=1");
    // The shopper page shows the Turnstile widget only when the operator configured a site key.
    const siteKey = settings(c.env).TURNSTILE_SITE_KEY;
    return c.json({ sale, ...(siteKey ? { turnstile_site_key: siteKey } : {}) });
  })
  .get("/:id/holds", valid("param", SaleParam), shopper, async (c) => {
    return c.json({ holds: unwrap(await inventory(c.env, c.req.valid("param").id).holdsOf(c.var.user)) });
  })
  .post(
    "/:id/claim",
    valid("param", SaleParam),
    shopper,
    idempotencyKey,
    valid("json", ClaimBody),
    async (c, next) => {
      // Without a pass, a sale that is not open gets its reason from the cached view (with
      // one, the object decides: a replayed claim still returns its hold while paused).
      const sale = unwrap(await saleInfo(c.env, c.req.valid("param").id));
      // What the fast path in front of the router answers, now that this isolate knows.
      if (soldOut(sale)) return soldOutResponse(c, sale);
      if (!c.req.header("x-pass")) {
        if (sale.status === "closed") throw new ApiError("sale_closed", "the sale has ended");
        if (sale.status !== "open") {
          throw new ApiError("not_open", sale.status === "paused" ? "the sale is paused" : "the sale has not started", { starts_at: sale.starts_at });
        }
      }
      await next();
    },
    requirePass,
    async (c) => {
      const { id } = c.req.valid("param");
      const key = c.var.idempotencyKey;
      const { qty } = c.req.valid("json");
      const answer = await inventory(c.env, id).claim({ user: c.var.user, qty, key });
      // Only a real sell-out (not "fewer left than you asked for"), with the object's own held
      // count: the cached view's may predate the holds, and decides "sold out" vs "for now".
      if (!answer.ok && answer.error === "sold_out" && answer.extra?.available === 0) {
        const info = await saleInfo(c.env, id);
        if (info.ok) rememberSoldOut(c.env, { ...info.value, held: Number(answer.extra.held ?? info.value.held) });
      }
      const claimed = unwrap(answer);
      if (claimed.kind === "waitlisted") {
        return c.json({ waitlisted: true, position: claimed.position, message: "sold out: you are on the waitlist; claim again to see an offered hold" }, 202);
      }
      return c.json({ hold: claimed.hold }, claimed.created ? 201 : 200);
    },
  );
