import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { A, c, C, type Case, GHOST, json, NOSALE, refusedWithoutWrite, setUpSales, withJson } from "./support/bad-input";
import { saleConfig } from "./support/sales";
import { admin, call, stats } from "./support/worker";

beforeAll(setUpSales);

/**
 * Invariant 9 for operators: an invalid sale config, PATCH or restock is refused with 400 (or
 * the object's own 4xx) and no sale is created, changed or sent to D1.
 */
describe("admin routes refuse bad input without writing", () => {
  const t0 = Date.now();
  const createWith = (o: Record<string, unknown>) => () => admin("POST", "/sales", saleConfig({ id: GHOST, ...o }));
  // Bodies and paths that name the world's sales are made when the case runs: its ids are set in beforeAll.
  const createRaw =
    (raw: () => string, type = "application/json") =>
    () =>
      call("POST", "/admin/sales", { token: env.ADMIN_TOKEN, ...withJson(raw(), type) });
  const { id: _drop, ...noId } = saleConfig();
  const adminRaw =
    (method: string, path: () => string, raw: string, type = "application/json") =>
    () =>
      call(method, `/admin${path()}`, { token: env.ADMIN_TOKEN, ...withJson(raw, type) });
  const MAX_DATE = 8.64e15; // the last instant a JS Date can hold

  const cases: Case[] = [
    c("unknown admin path", 404, "not_found", () => admin("GET", "/nope")),
    c("unknown sale action", 404, "not_found", () => admin("POST", `/sales/${A}/explode`)),
    // POST /admin/sales: dates
    c("ends before it starts", 400, "invalid_request", createWith({ starts_at: t0 + 3600_000, ends_at: t0 })),
    c("ends when it starts", 400, "invalid_request", createWith({ starts_at: t0, ends_at: t0 })),
    c("starts_at not a date", 400, "invalid_request", createWith({ starts_at: "tomorrow" })),
    c("starts_at a date without time", 400, "invalid_request", createWith({ starts_at: "2030-01-01" })),
    c("starts_at without a zone", 400, "invalid_request", createWith({ starts_at: "2030-01-01T00:00:00" })),
    c("starts_at negative epoch", 400, "invalid_request", createWith({ starts_at: -5 })),
    c("starts_at fractional epoch", 400, "invalid_request", createWith({ starts_at: t0 + 0.5 })),
    c("starts_at beyond what a Date can hold", 400, "invalid_request", createWith({ starts_at: MAX_DATE + 1, ends_at: MAX_DATE + 2 })),
    c("ends_at beyond what a Date can hold", 400, "invalid_request", createWith({ ends_at: 9e15 })),
    c("ends_at missing", 400, "invalid_request", createWith({ ends_at: undefined })),
    // stock and tunables
    ...[-1, 0, 1.5, "10", 10_000_001, null].map((v) => c(`stock_total ${json(v)}`, 400, "invalid_request", createWith({ stock_total: v }))),
    c("unknown release_policy", 400, "invalid_request", createWith({ release_policy: "lottery" })),
    c("hold_ttl_s 0", 400, "invalid_request", createWith({ hold_ttl_s: 0 })),
    c("hold_ttl_s 3601", 400, "invalid_request", createWith({ hold_ttl_s: 3601 })),
    c("per_user_limit 0", 400, "invalid_request", createWith({ per_user_limit: 0 })),
    c("admission_rate 0", 400, "invalid_request", createWith({ admission_rate: 0 })),
    c("max_active -1", 400, "invalid_request", createWith({ max_active: -1 })),
    c("pow_difficulty 29", 400, "invalid_request", createWith({ pow_difficulty: 29 })),
    c("status is not settable", 400, "invalid_request", createWith({ status: "open" })),
    c("unknown top-level field", 400, "invalid_request", createWith({ colour: "red" })),
    // product and id
    c("product missing", 400, "invalid_request", createWith({ product: undefined })),
    c(
      "product with an unknown field",
      400,
      "invalid_request",
      createWith({ product: { id: "p", name: "P", price: 1, currency: "EUR", sku: 1 } }),
    ),
    c("negative price", 400, "invalid_request", createWith({ product: { id: "p", name: "P", price: -1, currency: "EUR" } })),
    c("price as a string", 400, "invalid_request", createWith({ product: { id: "p", name: "P", price: "1", currency: "EUR" } })),
    c("lowercase currency", 400, "invalid_request", createWith({ product: { id: "p", name: "P", price: 1, currency: "eur" } })),
    c("id with capitals", 400, "invalid_request", createWith({ id: "Bad-Sale" })),
    c("id missing", 400, "invalid_request", () => admin("POST", "/sales", noId)),
    c("same id as a live sale, other config", 409, "conflict", () => admin("POST", "/sales", saleConfig({ id: A, stock_total: 99 }))),
    // body shape
    c(
      "body is an array",
      400,
      "invalid_request",
      createRaw(() => json([saleConfig({ id: GHOST })])),
    ),
    c(
      "body is malformed JSON",
      400,
      "invalid_request",
      createRaw(() => '{"id":'),
    ),
    c(
      "body sent as text/plain",
      415,
      "unsupported_media_type",
      createRaw(() => json(saleConfig({ id: GHOST })), "text/plain"),
    ),
    c(
      "body oversized",
      413,
      "payload_too_large",
      createRaw(() => json(saleConfig({ id: GHOST, pad: "x".repeat(17 * 1024) }))),
    ),
    // GET /admin/sales/:id
    c("stats of an unknown sale", 404, "not_found", () => admin("GET", `/sales/${NOSALE}`)),
    c("stats with a malformed id", 400, "invalid_request", () => admin("GET", "/sales/NOPE")),
    // PATCH
    c("PATCH nothing", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, {})),
    c("PATCH stock_total (not patchable)", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { stock_total: 50 })),
    c("PATCH release_policy (not patchable)", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { release_policy: "undersell" })),
    c("PATCH hold_ttl_s 0", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { hold_ttl_s: 0 })),
    c("PATCH admission_rate as a string", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { admission_rate: "fast" })),
    c("PATCH pow_difficulty -1", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { pow_difficulty: -1 })),
    c("PATCH ends_at before starts_at", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { ends_at: t0 - 3600_000 })),
    c("PATCH ends_at not a date", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { ends_at: "soon" })),
    c("PATCH ends_at beyond what a Date can hold", 400, "invalid_request", () => admin("PATCH", `/sales/${A}`, { ends_at: 9e15 })),
    c("PATCH a valid field plus an unknown one", 400, "invalid_request", () =>
      admin("PATCH", `/sales/${A}`, { hold_ttl_s: 60, colour: "red" }),
    ),
    c(
      "PATCH malformed JSON",
      400,
      "invalid_request",
      adminRaw("PATCH", () => `/sales/${A}`, "{hold_ttl_s: 60}"),
    ),
    c(
      "PATCH sent as text/plain",
      415,
      "unsupported_media_type",
      adminRaw("PATCH", () => `/sales/${A}`, json({ hold_ttl_s: 60 }), "text/plain"),
    ),
    c("PATCH an unknown sale", 404, "not_found", () => admin("PATCH", `/sales/${NOSALE}`, { hold_ttl_s: 60 })),
    c("PATCH a malformed sale id", 400, "invalid_request", () => admin("PATCH", "/sales/NOPE", { hold_ttl_s: 60 })),
    // restock
    ...[0, -5, 1.5, "5", null, 10_000_001].map((qty) =>
      c(`restock qty ${json(qty)}`, 400, "invalid_request", () => admin("POST", `/sales/${A}/restock`, { qty })),
    ),
    c("restock without qty", 400, "invalid_request", () => admin("POST", `/sales/${A}/restock`, {})),
    c("restock with an unknown field", 400, "invalid_request", () => admin("POST", `/sales/${A}/restock`, { qty: 1, price: 0 })),
    c(
      "restock malformed JSON",
      400,
      "invalid_request",
      adminRaw("POST", () => `/sales/${A}/restock`, "{qty:1}"),
    ),
    c(
      "restock sent as text/plain",
      415,
      "unsupported_media_type",
      adminRaw("POST", () => `/sales/${A}/restock`, json({ qty: 1 }), "text/plain"),
    ),
    c("restock an unknown sale", 404, "not_found", () => admin("POST", `/sales/${NOSALE}/restock`, { qty: 1 })),
    // state switches and reconcile
    ...(["pause", "resume", "close", "reconcile"] as const).flatMap((a) => [
      c(`${a} an unknown sale`, 404, "not_found", () => admin("POST", `/sales/${NOSALE}/${a}`)),
      c(`${a} a malformed sale id`, 400, "invalid_request", () => admin("POST", `/sales/NOPE/${a}`)),
    ]),
    c("resume a closed sale", 410, "sale_closed", () => admin("POST", `/sales/${C}/resume`)),
    c("pause a closed sale", 410, "sale_closed", () => admin("POST", `/sales/${C}/pause`)),
    // faults
    c("faults with a rate above 1", 400, "invalid_request", () => admin("POST", "/faults", { gateway: { decline_rate: 2 } })),
    c("faults with an unknown field", 400, "invalid_request", () => admin("POST", "/faults", { explode: true })),
    c("faults while disabled", 403, "forbidden", () => admin("POST", "/faults", { sale: A, restart: true })),
  ];
  it.each(cases)("$name → $status $error", async ({ go, status, error }) => {
    await refusedWithoutWrite(go, status, error);
    expect((await stats(GHOST)).sale).toBeNull();
  });
});
