import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { A, GHOST, json, type Opts, refusedWithoutWrite, setUpSales, u, withJson } from "./support/bad-input";
import { saleConfig } from "./support/sales";
import { call, stats } from "./support/worker";

beforeAll(setUpSales);

/** Every operator route, with a body it would accept: only the missing/wrong token stops it. */
const ADMIN_ROUTES: { name: string; method: string; path: () => string; body?: () => unknown }[] = [
  { name: "POST /admin/sales", method: "POST", path: () => "/admin/sales", body: () => saleConfig({ id: GHOST }) },
  { name: "GET /admin/sales", method: "GET", path: () => "/admin/sales" },
  { name: "GET /admin/sales/:id", method: "GET", path: () => `/admin/sales/${A}` },
  { name: "GET /admin/sales/:id/series", method: "GET", path: () => `/admin/sales/${A}/series` },
  { name: "PATCH /admin/sales/:id", method: "PATCH", path: () => `/admin/sales/${A}`, body: () => ({ hold_ttl_s: 60 }) },
  { name: "POST /admin/sales/:id/pause", method: "POST", path: () => `/admin/sales/${A}/pause` },
  { name: "POST /admin/sales/:id/resume", method: "POST", path: () => `/admin/sales/${A}/resume` },
  { name: "POST /admin/sales/:id/close", method: "POST", path: () => `/admin/sales/${A}/close` },
  { name: "POST /admin/sales/:id/restock", method: "POST", path: () => `/admin/sales/${A}/restock`, body: () => ({ qty: 5 }) },
  { name: "POST /admin/sales/:id/reconcile", method: "POST", path: () => `/admin/sales/${A}/reconcile` },
  { name: "GET /admin/gateway/ledger", method: "GET", path: () => "/admin/gateway/ledger" },
  { name: "POST /admin/faults", method: "POST", path: () => "/admin/faults", body: () => ({ gateway: { decline_rate: 1 } }) },
];

const BAD_ADMIN: Record<string, { opts: () => Opts & { env?: Partial<Env> }; status: number; error: string }> = {
  "no Authorization": { opts: () => ({}), status: 401, error: "unauthorized" },
  "wrong token": { opts: () => ({ token: `${env.ADMIN_TOKEN}x` }), status: 401, error: "unauthorized" },
  "token prefix only": { opts: () => ({ token: env.ADMIN_TOKEN.slice(0, -1) }), status: 401, error: "unauthorized" },
  "a shopper session": { opts: () => ({ token: u.mallory.token }), status: 401, error: "unauthorized" },
  "Basic scheme": {
    opts: () => ({ headers: { authorization: `Basic ${btoa(`admin:${env.ADMIN_TOKEN}`)}` } }),
    status: 400,
    error: "invalid_request",
  },
  "token in the query string": { opts: () => ({}), status: 401, error: "unauthorized" },
  // Right token, but the operator never configured one: admin is off, not open.
  "ADMIN_TOKEN unset": { opts: () => ({ token: env.ADMIN_TOKEN, env: { ADMIN_TOKEN: "" } }), status: 403, error: "forbidden" },
  "ADMIN_TOKEN too short": { opts: () => ({ token: "short", env: { ADMIN_TOKEN: "short" } }), status: 403, error: "forbidden" },
};

/** Invariant 9: operator routes need the operator's bearer token; nothing runs without it. */
describe("admin routes refuse a missing or wrong operator token", () => {
  const rows = ADMIN_ROUTES.flatMap((r) => Object.entries(BAD_ADMIN).map(([bad, b]) => ({ name: `${r.name} · ${bad}`, r, bad, b })));
  it.each(rows)("$name", async ({ r, bad, b }) => {
    const o = b.opts();
    const path = bad === "token in the query string" ? `${r.path()}?token=${env.ADMIN_TOKEN}` : r.path();
    const body = r.body?.();
    await refusedWithoutWrite(
      () =>
        call(r.method, path, {
          ...o,
          ...(body === undefined ? {} : withJson(json(body))),
          headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...o.headers },
        }),
      b.status,
      b.error,
    );
    if (r.name === "POST /admin/sales") expect((await stats(GHOST)).sale).toBeNull();
  });
});
