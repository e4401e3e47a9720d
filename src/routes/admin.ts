import { createRoute } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/api-error";
import { forgetSale } from "../edge/sale-info";
import { catalog, gatewaySim, inventory, room } from "../../domain/objects";
import { rememberSale } from "../edge/catalog";
import { allOk, shardedView, shardsFor, shardStub } from "../edge/shards";
import { sumOverviews, sumReconciles, sumStats } from "../edge/shard-sums";
import { splitStock } from "../../domain/shards";
import { knownSale } from "../middleware/known-sale";
import { settings } from "../../domain/config";
import { valid } from "../lib/validate";
import { asOperator, body, documented, json, mount, refusals } from "../lib/openapi";
import { ADMIN_REFUSALS, requireAdmin } from "../middleware/admin-auth";
import { Ledger, LIST_LIMIT, ReconcileAnswer, SaleChanged, SaleCreated, SaleList, SaleStats } from "../../domain/schemas/admin";
import { mergeColumns, SaleSeries, SERIES_KEEP_S, SeriesQuery, sumColumns } from "../../domain/schemas/series";
import { Restock, SaleInput, SaleUpdate, Timestamp, type SaleConfig, type SaleView } from "../../domain/schemas/sale";
import { ok, type Result } from "../../domain/result";
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
  const { id, starts_at, ends_at, admission_rate, max_active, pass_ttl_s, admit_per_unit, lottery_s, shards = 1, release_policy } = cfg;
  return room(env, id).configure({ sale_id: id, starts_at, ends_at, admission_rate, max_active, pass_ttl_s, admit_per_unit, lottery_s, shards, release_policy });
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

/**
 * An operator's change to a sale, applied to each of its objects (one, unless it has stock
 * shards): the first refusal, else the sale as it is now (a sharded sale's: the sum of its shards').
 * A change that reached only some shards (one failed) is repaired by sending it again: each shard
 * applies a change it already has as any other (a state it is in, a setting it has).
 */
async function everyShard(env: Env, id: string, change: (inv: ReturnType<typeof inventory>, shard: number, n: number) => Promise<Result<SaleView>>) {
  const shards = await shardsFor(env, id);
  if (shards.length === 1) return change(shards[0]!, 0, 1);
  const rs = allOk(await Promise.all(shards.map((inv, i) => change(inv, i, shards.length))));
  return rs.ok ? shardedView(env, id, shards.length) : rs;
}

/**
 * Creates a sale's product objects (or finds them as they were). A sharded sale's shards are
 * each given their share; whether it was created is shard 0's answer, and a repeat configures any
 * shard a failure missed.
 */
async function configureObjects(env: Env, cfg: SaleConfig, shards: number): Promise<Result<{ created: boolean; sale: SaleView }>> {
  if (shards === 1) return inventory(env, cfg.id).configure(cfg);
  const made = allOk(await Promise.all(Array.from({ length: shards }, (_, i) => shardStub(env, cfg.id, i).configureShard(cfg, i))));
  if (!made.ok) return made;
  const sale = await shardedView(env, cfg.id, shards);
  return sale.ok ? ok({ created: made.value[0]!.created, sale: sale.value }) : sale;
}

/** After an operator's change (not a read: the dashboard polls), this isolate re-reads the sale. */
const forgetAfter = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (c.req.method !== "GET") forgetSale(c.req.param("id")!);
});

/** `POST /admin/faults`: what was set. */
const FaultsSet = z.strictObject({ gateway: Faults.shape.gateway, inventory: z.strictObject({ d1_down_until: Timestamp.nullable() }).optional() });

const ActionParam = SaleParam.extend({ action: z.enum(["pause", "resume", "close"]) });
const op = { tags: ["operator"], security: asOperator };
const BODY = ["invalid_request", "unsupported_media_type"] as const;

const create = createRoute({
  ...op,
  method: "post",
  path: "/sales",
  summary: "Create a sale (and configure its waiting room)",
  description: "Repeating the same configuration is not an error (200): that is how a room that missed its configuration is repaired.",
  request: { body: body(SaleInput) },
  middleware: [valid("json", SaleInput)],
  responses: {
    201: json(SaleCreated, "created"),
    200: json(SaleCreated, "it existed with this very configuration"),
    ...refusals(...ADMIN_REFUSALS, ...BODY, "conflict", "unavailable"),
  },
});

const list = createRoute({
  ...op,
  method: "get",
  path: "/sales",
  summary: "The sales that exist, newest first, with their status and stock",
  description: `The ${LIST_LIMIT} newest; \`total\` says how many there are.`,
  responses: { 200: json(SaleList, "the sales"), ...refusals(...ADMIN_REFUSALS) },
});

const stats = createRoute({
  ...op,
  method: "get",
  path: "/sales/{id}",
  summary: "A sale's figures: stock, holds, outbox, waiting room, D1",
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam)],
  responses: { 200: json(SaleStats, "the figures"), ...refusals(...ADMIN_REFUSALS, "not_found", "unavailable") },
});

const series = createRoute({
  ...op,
  method: "get",
  path: "/sales/{id}/series",
  summary: "A sale's per-second history: claims, admissions, rejections, payments, outbox, expiry",
  description: `What the dashboard draws. Each of the sale's objects keeps one row per second that had something to count, for the last ${SERIES_KEEP_S} s (a ring of ${SERIES_KEEP_S} rows); the answer merges them by second. \`since\` asks only for later rows.`,
  request: { params: SaleParam, query: SeriesQuery },
  middleware: [valid("param", SaleParam), valid("query", SeriesQuery)],
  responses: { 200: json(SaleSeries, "the rows, as columns"), ...refusals(...ADMIN_REFUSALS, "not_found", "unavailable") },
});

const update = createRoute({
  ...op,
  method: "patch",
  path: "/sales/{id}",
  summary: "Change a running sale's settings",
  request: { params: SaleParam, body: body(SaleUpdate) },
  middleware: [valid("param", SaleParam), valid("json", SaleUpdate)],
  responses: { 200: json(SaleChanged, "the sale as it is now"), ...refusals(...ADMIN_REFUSALS, ...BODY, "not_found", "unavailable") },
});

const switchState = createRoute({
  ...op,
  method: "post",
  path: "/sales/{id}/{action}",
  summary: "Pause, resume or close a sale",
  description: "A closed sale cannot be reopened.",
  request: { params: ActionParam },
  middleware: [valid("param", ActionParam)],
  responses: { 200: json(SaleChanged, "the sale as it is now"), ...refusals(...ADMIN_REFUSALS, "not_found", "sale_closed", "unavailable") },
});

const restock = createRoute({
  ...op,
  method: "post",
  path: "/sales/{id}/restock",
  summary: "Add units to a sale",
  request: { params: SaleParam, body: body(Restock) },
  middleware: [valid("param", SaleParam), valid("json", Restock)],
  responses: { 200: json(SaleChanged, "the sale as it is now"), ...refusals(...ADMIN_REFUSALS, ...BODY, "not_found", "unavailable") },
});

const reconcile = createRoute({
  ...op,
  method: "post",
  path: "/sales/{id}/reconcile",
  summary: "Compare the ledger with D1 and send D1 what it lacks",
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam)],
  responses: { 200: json(ReconcileAnswer, "what was compared and re-sent"), ...refusals(...ADMIN_REFUSALS, "not_found", "unavailable") },
});

const ledger = createRoute({
  ...op,
  method: "get",
  path: "/gateway/ledger",
  summary: "The simulated payment provider's charges (GATEWAY=simulated only)",
  responses: { 200: json(Ledger, "every charge"), ...refusals(...ADMIN_REFUSALS, "not_found") },
});

const faults = createRoute({
  ...op,
  method: "post",
  path: "/faults",
  summary: "Break things on purpose (rehearsals; ALLOW_FAULTS only)",
  request: { body: body(Faults) },
  middleware: [valid("json", Faults)],
  responses: { 200: json(FaultsSet, "what was set"), ...refusals(...ADMIN_REFUSALS, ...BODY, "unavailable") },
});

export const admin = documented();
admin.use(requireAdmin);
// An id that was never created reaches no object; whatever an operator changes, this isolate
// stops serving its cached view of that sale.
admin.use("/sales/:id", knownSale, forgetAfter);
admin.use("/sales/:id/*", knownSale, forgetAfter);

mount(admin, create, async (c) => {
  const { shards = 1, ...rest } = c.req.valid("json");
  // One shard is stored as a sale always was (no `shards` key): the same config, the same object.
  const cfg: SaleConfig = shards === 1 ? rest : { ...rest, shards };
  const { created, sale } = unwrap(await configureObjects(c.env, cfg, shards));
  // Also on a repeated create: that is how an operator repairs a room that missed its config.
  await syncRoom(c.env, cfg);
  // Listed last: once shoppers can reach the sale, its objects are configured.
  await catalog(c.env).add(cfg.id, shards);
  rememberSale(cfg.id, shards);
  forgetSale(cfg.id);
  return c.json({ sale, created }, created ? 201 : 200);
});

mount(admin, list, async (c) => {
  const all = await catalog(c.env).list();
  const newest = all.slice(-LIST_LIMIT).reverse();
  const overview = (e: { id: string; shards: number }) =>
    Promise.all(Array.from({ length: e.shards }, (_, i) => shardStub(c.env, e.id, i).overview())).then(sumOverviews);
  const rows = await Promise.all(newest.map(async (e) => ({ e, o: await overview(e) })));
  const sales = rows.flatMap(({ e, o }) => (o ? [{ ...o, created_at: new Date(e.created_at).toISOString() }] : []));
  return c.json({ sales, total: all.length }, 200);
});

mount(admin, stats, async (c) => {
  const { id } = c.req.valid("param");
  const stats = sumStats(await Promise.all((await shardsFor(c.env, id)).map((inv) => inv.stats())));
  if (!stats.sale) throw new ApiError("not_found", `no sale ${id}`);
  const [queue, d1] = await Promise.all([room(c.env, id).stats(), d1Counts(c.env.DB, id)]);
  return c.json({ ...stats, queue, d1 }, 200);
});

mount(admin, series, async (c) => {
  const { id } = c.req.valid("param");
  const { since } = c.req.valid("query");
  // A sharded sale's shards are summed by second (sumColumns: counts added, stock and backlog
  // as each shard last had them, lags the highest).
  const [inv, line] = await Promise.all([
    shardsFor(c.env, id).then(async (shards) => (shards.length === 1 ? shards[0]!.series(since) : sumColumns(await Promise.all(shards.map((s) => s.series(since)))))),
    room(c.env, id).history(since),
  ]);
  return c.json({ step_s: 1 as const, keep_s: SERIES_KEEP_S, now: Math.floor(Date.now() / 1000), ...mergeColumns(inv, line) }, 200);
});

mount(admin, update, async (c) => {
  const { id } = c.req.valid("param");
  const patch = c.req.valid("json");
  const sale = unwrap(await everyShard(c.env, id, (inv) => inv.update(patch)));
  await syncRoom(c.env, unwrap(await inventory(c.env, id).saleConfig()));
  return c.json({ sale }, 200);
});

mount(admin, switchState, async (c) => {
  const { id, action } = c.req.valid("param");
  const state = ({ pause: "paused", resume: "live", close: "closed" } as const)[action];
  return c.json({ sale: unwrap(await everyShard(c.env, id, (inv) => inv.setState(state))) }, 200);
});

mount(admin, restock, async (c) => {
  const { id } = c.req.valid("param");
  const { qty } = c.req.valid("json");
  // A sharded sale's restock is split as its stock was.
  const sale = unwrap(await everyShard(c.env, id, (inv, i, n) => (n === 1 ? inv.restock(qty) : inv.restockShard(qty, splitStock(qty, n)[i]!))));
  await syncRoom(c.env, unwrap(await inventory(c.env, id).saleConfig())); // the room reads the units again: its line moves
  return c.json({ sale }, 200);
});

mount(admin, reconcile, async (c) => {
  const shards = await shardsFor(c.env, c.req.valid("param").id);
  return c.json({ report: sumReconciles(unwrap(allOk(await Promise.all(shards.map((inv) => inv.reconcile()))))) }, 200);
});

mount(admin, ledger, async (c) => {
  if (settings(c.env).GATEWAY !== "simulated") throw new ApiError("not_found", "the ledger is only kept by the simulated gateway");
  return c.json({ charges: await gatewaySim(c.env).ledger() }, 200);
});

mount(admin, faults, async (c) => {
  if (!settings(c.env).ALLOW_FAULTS) throw new ApiError("forbidden", "faults are disabled: set ALLOW_FAULTS = \"true\" (local rehearsals only)");
  const f = c.req.valid("json");
  const out: z.infer<typeof FaultsSet> = {};
  if (f.gateway) {
    await gatewaySim(c.env).setRates(f.gateway);
    out.gateway = f.gateway;
  }
  if (f.d1_down_ms !== undefined || f.restart) {
    if (!f.sale) throw new ApiError("invalid_request", "d1_down_ms and restart need `sale`");
    // Every shard of a sharded sale.
    const each = await Promise.all((await shardsFor(c.env, f.sale)).map((inv) => inv.fault({ d1_down_ms: f.d1_down_ms, restart: f.restart })));
    out.inventory = unwrap(allOk(each))[0]!;
  }
  return c.json(out, 200);
});
