import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/api-error";
import { forgetSale } from "../edge/sale-info";
import { gatewaySim, inventory, room } from "../../domain/objects";
import { settings } from "../../domain/config";
import { valid } from "../lib/validate";
import { requireAdmin } from "../middleware/admin-auth";
import { Restock, SaleInput, SaleUpdate, type SaleConfig } from "../../domain/schemas/sale";
import { SaleParam } from "./sales";

/** What the rehearsal may break on purpose; refused unless ALLOW_FAULTS is on. */
export const Faults = z.strictObject({
  sale: z.string().optional(),
  d1_down_ms: z.number().int().min(0).max(600_000).optional(),
  restart: z.boolean().optional(),
  gateway: z
    .strictObject({
      latency_ms: z.number().min(0).max(60_000),
      decline_rate: z.number().min(0).max(1),
      timeout_rate: z.number().min(0).max(1),
      late_success_rate: z.number().min(0).max(1),
      late_ms: z.number().min(0).max(600_000),
      duplicate_rate: z.number().min(0).max(1),
    })
    .partial()
    .optional(),
});

/** The waiting room takes its schedule and admission limits from the sale's configuration. */
function syncRoom(env: Env, cfg: SaleConfig) {
  const { id, starts_at, ends_at, admission_rate, max_active } = cfg;
  return room(env, id).configure({ sale_id: id, starts_at, ends_at, admission_rate, max_active });
}

/** D1's view of a sale, for stats: what finance will see. */
async function d1Counts(db: D1Database, saleId: string) {
  try {
    const row = await db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM orders WHERE sale_id = ?1) AS orders,
                (SELECT COALESCE(SUM(qty), 0) FROM orders WHERE sale_id = ?1) AS units,
                (SELECT COALESCE(SUM(amount), 0) FROM orders WHERE sale_id = ?1) AS revenue,
                (SELECT COUNT(*) FROM refunds WHERE sale_id = ?1) AS refunds`,
      )
      .bind(saleId)
      .first<{ orders: number; units: number; revenue: number; refunds: number }>();
    return row;
  } catch (e) {
    return { error: `D1 did not answer: ${String(e)}` };
  }
}

const forgetAfter = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  forgetSale(c.req.param("id")!);
});

export const admin = new Hono<AppEnv>()
  .use(requireAdmin)
  // Whatever an operator changes, this isolate stops serving its cached view of that sale.
  .use("/sales/:id", forgetAfter)
  .use("/sales/:id/*", forgetAfter)
  .post("/sales", valid("json", SaleInput), async (c) => {
    const cfg = c.req.valid("json");
    const { created, sale } = unwrap(await inventory(c.env, cfg.id).configure(cfg));
    // Also on a repeated create: that is how an operator repairs a room that missed its config.
    await syncRoom(c.env, cfg);
    forgetSale(cfg.id);
    return c.json({ sale, created }, created ? 201 : 200);
  })
  .get("/sales/:id", valid("param", SaleParam), async (c) => {
    const { id } = c.req.valid("param");
    const stats = await inventory(c.env, id).stats();
    if (!stats.sale) throw new ApiError("not_found", `no sale ${id}`);
    const [queue, d1] = await Promise.all([room(c.env, id).stats(), d1Counts(c.env.DB, id)]);
    return c.json({ ...stats, queue, d1 });
  })
  .patch("/sales/:id", valid("param", SaleParam), valid("json", SaleUpdate), async (c) => {
    const inv = inventory(c.env, c.req.valid("param").id);
    const sale = unwrap(await inv.update(c.req.valid("json")));
    await syncRoom(c.env, unwrap(await inv.saleConfig()));
    return c.json({ sale });
  })
  .post("/sales/:id/:action{pause|resume|close}", valid("param", SaleParam.extend({ action: z.enum(["pause", "resume", "close"]) })), async (c) => {
    const { id, action } = c.req.valid("param");
    const state = ({ pause: "paused", resume: "live", close: "closed" } as const)[action];
    return c.json({ sale: unwrap(await inventory(c.env, id).setState(state)) });
  })
  .post("/sales/:id/restock", valid("param", SaleParam), valid("json", Restock), async (c) => {
    const sale = unwrap(await inventory(c.env, c.req.valid("param").id).restock(c.req.valid("json").qty));
    return c.json({ sale });
  })
  .post("/sales/:id/reconcile", valid("param", SaleParam), async (c) => {
    return c.json({ report: unwrap(await inventory(c.env, c.req.valid("param").id).reconcile()) });
  })
  .get("/gateway/ledger", async (c) => {
    if (settings(c.env).GATEWAY !== "simulated") throw new ApiError("not_found", "the ledger is only kept by the simulated gateway");
    return c.json({ charges: await gatewaySim(c.env).ledger() });
  })
  .post("/faults", valid("json", Faults), async (c) => {
    if (!settings(c.env).ALLOW_FAULTS) throw new ApiError("forbidden", "faults are disabled: set ALLOW_FAULTS = \"true\" (local rehearsals only)");
    const f = c.req.valid("json");
    const out: Record<string, unknown> = {};
    if (f.gateway) {
      await gatewaySim(c.env).setRates(f.gateway);
      out.gateway = f.gateway;
    }
    if (f.d1_down_ms !== undefined || f.restart) {
      if (!f.sale) throw new ApiError("invalid_request", "d1_down_ms and restart need `sale`");
      out.inventory = unwrap(await inventory(c.env, f.sale).fault({ d1_down_ms: f.d1_down_ms, restart: f.restart }));
    }
    return c.json(out);
  });
