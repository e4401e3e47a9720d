import { createRoute } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/api-error";
import { forgetSale } from "../edge/sale-info";
import { gatewaySim } from "../../domain/objects";
import { rememberSale } from "../edge/catalog";
import { knownSale } from "../middleware/known-sale";
import { settings } from "../../domain/config";
import { valid } from "../lib/validate";
import { asOperator, body, documented, json, mount, refusals } from "../lib/openapi";
import { ADMIN_REFUSALS, requireAdmin } from "../middleware/admin-auth";
import { pacerFor, pacerName, ratesOf } from "../../durable-objects/payment-pacer";
import { paymentsPerSecond } from "../../domain/payment-rate.js";
import {
  Ledger,
  LIST_LIMIT,
  PaymentPacing,
  ReconcileAnswer,
  SaleChanged,
  SaleCreated,
  SaleList,
  SaleStats,
} from "../../domain/schemas/admin";
import { Faults, FaultsSet } from "../../domain/schemas/faults";
import { SaleSeries, SERIES_KEEP_S, SeriesQuery } from "../../domain/schemas/series";
import { Restock, SaleInput, SaleUpdate, type SaleConfig } from "../../domain/schemas/sale";
import {
  createSale,
  listSales,
  reconcileSale,
  restockSale,
  saleSeries,
  saleStats,
  setSaleState,
  updateSale,
} from "../services/admin-fanout";
import { injectFaults } from "../services/faults";
import { SaleParam } from "./sales";
import { now as clockNow } from "../../domain/clock";
import { adminEvents } from "./admin-events";

/**
 * The operator's API: each route validates, calls the fan-out service (src/services/admin-fanout.ts:
 * every shard, the room, the catalogue, D1) and answers. Which isolate caches to drop is decided here.
 */

/** After an operator's change (not a read: the dashboard polls), this isolate re-reads the sale. */
const forgetAfter = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (c.req.method !== "GET") forgetSale(c.req.param("id")!);
});

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

const payments = createRoute({
  ...op,
  method: "get",
  path: "/payments",
  summary: "The payment pacer: rates per Stripe endpoint and for the account, payments per second, the line",
  responses: { 200: json(PaymentPacing, "the pacer of this Worker's Stripe account"), ...refusals(...ADMIN_REFUSALS) },
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
  const { created, sale } = unwrap(await createSale(c.env, cfg, shards));
  rememberSale(cfg.id, shards);
  forgetSale(cfg.id);
  return c.json({ sale, created }, created ? 201 : 200);
});

mount(admin, list, async (c) => c.json(await listSales(c.env), 200));

mount(admin, stats, async (c) => {
  const { id } = c.req.valid("param");
  const figures = await saleStats(c.env, id);
  if (!figures) throw new ApiError("not_found", `no sale ${id}`);
  return c.json(figures, 200);
});

mount(admin, series, async (c) => {
  const { since } = c.req.valid("query");
  const columns = await saleSeries(c.env, c.req.valid("param").id, since);
  return c.json({ step_s: 1 as const, keep_s: SERIES_KEEP_S, now: Math.floor(clockNow() / 1000), ...columns }, 200);
});

mount(admin, update, async (c) => {
  const { id } = c.req.valid("param");
  return c.json({ sale: unwrap(await updateSale(c.env, id, c.req.valid("json"))) }, 200);
});

mount(admin, switchState, async (c) => {
  const { id, action } = c.req.valid("param");
  const state = ({ pause: "paused", resume: "live", close: "closed" } as const)[action];
  return c.json({ sale: unwrap(await setSaleState(c.env, id, state)) }, 200);
});

mount(admin, restock, async (c) => {
  const { id } = c.req.valid("param");
  return c.json({ sale: unwrap(await restockSale(c.env, id, c.req.valid("json").qty)) }, 200);
});

mount(admin, reconcile, async (c) => c.json({ report: unwrap(await reconcileSale(c.env, c.req.valid("param").id)) }, 200));

mount(admin, ledger, async (c) => {
  if (settings(c.env).GATEWAY !== "simulated") throw new ApiError("not_found", "the ledger is only kept by the simulated gateway");
  return c.json({ charges: await gatewaySim(c.env).ledger() }, 200);
});

mount(admin, payments, async (c) => {
  const s = settings(c.env);
  const pacer = await pacerFor(c.env);
  if (pacer)
    return c.json({ paced: true, account: await pacerName(c.env), headroom: s.STRIPE_RATE_HEADROOM, ...(await pacer.stats()) }, 200);
  const rates = ratesOf(s, false);
  const idle = { waiting: 0, line_ms: 0, granted: { payment: 0, retry: 0, call: 0, recheck: 0 } };
  return c.json(
    { paced: false, account: null, headroom: s.STRIPE_RATE_HEADROOM, rates, payments_per_s: paymentsPerSecond(rates), ...idle },
    200,
  );
});

mount(admin, faults, async (c) => {
  if (!settings(c.env).ALLOW_FAULTS)
    throw new ApiError("forbidden", 'faults are disabled: set ALLOW_FAULTS = "true" (local rehearsals only)');
  return c.json(unwrap(await injectFaults(c.env, c.req.valid("json"))), 200);
});

// The shop's order events (dead letters resent): behind the same checks as the routes above.
admin.route("/", adminEvents);
