import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { unwrap } from "../lib/errors";
import { inventory } from "../lib/objects";
import { valid } from "../lib/validate";
import { requireSession } from "../middleware/session";
import { ClaimBody, IdempotencyKey } from "../schemas/hold";
import { SaleId } from "../schemas/sale";

export const SaleParam = z.object({ id: SaleId });

export const sales = new Hono<AppEnv>()
  .get("/:id", valid("param", SaleParam), async (c) => {
    const sale = unwrap(await inventory(c.env, c.req.valid("param").id).info());
    return c.json({ sale });
  })
  .post(
    "/:id/claim",
    valid("param", SaleParam),
    requireSession,
    valid("header", z.object({ "idempotency-key": IdempotencyKey })),
    valid("json", ClaimBody),
    async (c) => {
      const { id } = c.req.valid("param");
      const key = c.req.valid("header")["idempotency-key"];
      const { qty } = c.req.valid("json");
      const answer = unwrap(await inventory(c.env, id).claim({ user: c.var.user, qty, key }));
      if (answer.kind === "waitlisted") {
        return c.json({ waitlisted: true, position: answer.position, message: "sold out: you are on the waitlist; claim again to see an offered hold" }, 202);
      }
      return c.json({ hold: answer.hold }, answer.created ? 201 : 200);
    },
  );
