import { Validator, type Schema } from "@cfworker/json-schema";
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { beforeAll, describe, expect, it } from "vitest";
import { solve } from "../domain/pow.js";
import { EVENT_TYPES, ShopEvent } from "../domain/schemas/events";
import { app } from "../src/index";
import { createSale, saleConfig, saleId } from "./support/sales";
import { admitted, claim, enqueue, heldBy, idemKey, passFor, pay, session } from "./support/shoppers";
import { admin, api, call } from "./support/worker";

/**
 * The OpenAPI document (GET /api/openapi.json) against the running Worker: it lists exactly the
 * routes the app answers, and real answers, successes and refusals, validate against the
 * document's own JSON Schema for their route and status (not against the zod schemas it was
 * generated from, so the published text itself is what is checked).
 */

type Res = Awaited<ReturnType<typeof call>>;
type Operation = { responses: Record<string, { content: Record<string, { schema: Schema }> }> };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };

let doc: Doc;
let defs: Record<string, Schema>;
/** `METHOD /path/{param} status` of every answer checked here. */
const answered = new Set<string>();

// The document's `#/components/schemas/X` references, as a JSON Schema validator reads them.
const asJsonSchema = <T>(x: T): T => JSON.parse(JSON.stringify(x).replaceAll('"#/components/schemas/', '"#/$defs/'));

beforeAll(async () => {
  const res = await call("GET", "/api/openapi.json");
  expect(res.status).toBe(200);
  doc = res.body;
  defs = asJsonSchema(doc.components.schemas);
});

function expectValid(schema: Schema, body: unknown, what: string) {
  const { errors } = new Validator({ ...asJsonSchema(schema), $defs: defs }, "2020-12", false).validate(body);
  expect(
    errors.map((e) => `${e.instanceLocation} ${e.keywordLocation}: ${e.error}`),
    `${what}: ${JSON.stringify(body)}`,
  ).toEqual([]);
}

/** Asserts the answer is the expected one and that the document describes it: its status for this route, and its body. */
function documented(method: string, path: string, res: Res, status: number, error?: string): Res {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  if (error) expect(res.body.error).toBe(error);
  const op = doc.paths[path]?.[method.toLowerCase()];
  expect(op, `${method} ${path} is in the document`).toBeDefined();
  const response = op!.responses[String(status)];
  expect(response, `${method} ${path} documents ${status}`).toBeDefined();
  expectValid(response!.content["application/json"]!.schema, res.body, `${method} ${path} ${status}`);
  answered.add(`${method} ${path} ${status}`);
  return res;
}

const big = "x".repeat(17 * 1024);
const inAnHour = () => ({
  starts_at: new Date(Date.now() + 3600_000).toISOString(),
  ends_at: new Date(Date.now() + 7200_000).toISOString(),
});
const raw = (body: string, type = "application/json") => ({ raw: body, headers: { "content-type": type } });

describe("the document", () => {
  it("is OpenAPI 3.1 and lists every route the app answers, and only those", () => {
    expect(doc.openapi).toBe("3.1.0");
    // Hono's route list has one entry per handler in a chain, and `use` middleware as ALL.
    const routed = new Set(
      app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replaceAll(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`),
    );
    const listed = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    expect([...listed].sort()).toEqual([...routed].sort());
    expect(listed.size).toBeGreaterThanOrEqual(18);
  });

  it("is served as it describes itself, with a reference page", async () => {
    documented("GET", "/api/openapi.json", await call("GET", "/api/openapi.json"), 200);
    const page = await call("GET", "/api/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(doc.paths["/api/docs"]!.get!.responses["200"]!.content["text/html"]).toBeDefined();
    // The page loads Swagger UI (from a CDN, in a browser) pointed at the document.
    expect(page.body.raw).toContain("SwaggerUIBundle");
    expect(page.body.raw).toContain("/api/openapi.json");
    answered.add("GET /api/docs 200");
  });

  it("a route the app does not have answers the documented not_found body", async () => {
    const res = await call("GET", "/api/nowhere");
    expect(res.status).toBe(404);
    expectValid(doc.components.schemas.NotFoundError!, res.body, "GET /api/nowhere");
  });
});

describe("shopper answers validate against the document", () => {
  it("session, sale info, challenge", async () => {
    const S = "/api/sales/{id}";
    documented("POST", "/api/session", await call("POST", "/api/session"), 201);
    // The body limit is in front of every route, one that takes no body too.
    documented("POST", "/api/session", await call("POST", "/api/session", raw(big)), 413, "payload_too_large");
    const sale = await createSale({ id: saleId("oa") });
    documented("GET", S, await call("GET", `/api/sales/${sale}`), 200);
    documented("GET", S, await call("GET", `/api/sales/${sale}`, { env: { TURNSTILE_SITE_KEY: "site-key" } }), 200);
    documented("GET", S, await call("GET", `/api/sales/${saleId("oa")}`), 404, "not_found");
    documented("GET", S, await call("GET", "/api/sales/NOT_AN_ID"), 400, "invalid_request");

    const { token } = await session();
    const C = "/api/sales/{id}/challenge";
    documented("POST", C, await call("POST", `/api/sales/${sale}/challenge`, { token }), 200);
    documented("POST", C, await call("POST", `/api/sales/${saleId("oa")}/challenge`, { token }), 404, "not_found");
    documented("POST", C, await call("POST", `/api/sales/${sale}/challenge`), 401, "unauthorized");
    documented(
      "POST",
      C,
      await call("POST", `/api/sales/${sale}/challenge`, { token, headers: { "user-agent": "curl/8.5.0" } }),
      403,
      "bot_suspected",
    );
    const closed = await createSale({ id: saleId("oa") });
    await admin("POST", `/sales/${closed}/close`);
    documented("POST", C, await call("POST", `/api/sales/${closed}/challenge`, { token }), 410, "sale_closed");
  });

  it("queue: join, join again, poll (waiting and admitted), bad solution, no ticket", async () => {
    const Q = "/api/sales/{id}/queue";
    const sale = await createSale({ id: saleId("oa") });
    const { token } = await session();
    const joined = documented("POST", Q, await enqueue(sale, token), 201);
    expect(joined.body.state).toBe("waiting");
    // Queueing again with the ticket keeps the place.
    const again = documented("POST", Q, await api.join(sale, token, { ticket: joined.body.ticket }), 200);
    expect(again.body.place).toEqual(joined.body.place);
    const admitted = documented("GET", Q, await api.admit(sale, token, { ticket: joined.body.ticket, minPollMs: 50, maxPollMs: 100 }), 200);
    expect(admitted.body.pass).toBeTypeOf("string");
    documented("GET", Q, await call("GET", `/api/sales/${sale}/queue`, { token, headers: { "x-ticket": joined.body.ticket } }), 200);
    documented("GET", Q, await call("GET", `/api/sales/${sale}/queue`, { token }), 403, "forbidden");

    const ch = await call("POST", `/api/sales/${sale}/challenge`, { token });
    documented(
      "POST",
      Q,
      await call("POST", `/api/sales/${sale}/queue`, { token, body: { challenge: `${ch.body.challenge}x`, solution: "0" } }),
      403,
      "pow_failed",
    );
    documented(
      "POST",
      Q,
      await call("POST", `/api/sales/${sale}/queue`, { token, body: { challenge: ch.body.challenge } }),
      400,
      "invalid_request",
    );
    const solution = await solve(ch.body.nonce, ch.body.bits);
    documented(
      "POST",
      Q,
      await call("POST", `/api/sales/${sale}/queue`, {
        token,
        ...raw(JSON.stringify({ challenge: ch.body.challenge, solution }), "text/plain"),
      }),
      415,
      "unsupported_media_type",
    );

    // Before the opening: a pre-queue place (no position yet) and a poll that says when it opens.
    const later = await createSale({ id: saleId("oa"), ...inAnHour() });
    const pre = documented("POST", Q, await enqueue(later, token), 201);
    expect(pre.body).toMatchObject({ state: "waiting", position: null });
    documented("GET", Q, await call("GET", `/api/sales/${later}/queue`, { token, headers: { "x-ticket": pre.body.ticket } }), 200);
  });

  it("demo sign-in (local only): the form, the redirect back with an assertion, and 404 when off", async () => {
    const on = { env: { DEMO_SIGNIN: "on" } };
    const form = await call("GET", "/demo/sign-in?return_to=/sale%3Fid%3Ddemo", on);
    expect(form.status).toBe(200);
    expect(form.headers.get("content-type")).toMatch(/^text\/html/);
    expect(doc.paths["/demo/sign-in"]!.get!.responses["200"]!.content["text/html"]).toBeDefined();
    answered.add("GET /demo/sign-in 200");
    const back = await call("POST", "/demo/sign-in", {
      ...on,
      ...raw("name=alice&return_to=%2Fsale%3Fid%3Ddemo", "application/x-www-form-urlencoded"),
    });
    expect(back.status).toBe(303);
    expect(back.headers.get("location")).toMatch(/^\/sale\?id=demo#identity=ey/);
    expect(doc.paths["/demo/sign-in"]!.post!.responses["303"]).toBeDefined();
    answered.add("POST /demo/sign-in 303");
    documented("GET", "/demo/sign-in", await call("GET", "/demo/sign-in"), 404, "not_found");
    documented(
      "POST",
      "/demo/sign-in",
      await call("POST", "/demo/sign-in", {
        ...on,
        ...raw("name=a%20b&return_to=https://evil.test/", "application/x-www-form-urlencoded"),
      }),
      400,
      "invalid_request",
    );
  });

  it("claim: 201, 200 replay, 202 waitlisted, 409 sold_out and limit_reached, 403, 410, 425, and bad input", async () => {
    const CL = "/api/sales/{id}/claim";
    const sale = await createSale({ id: saleId("oa"), stock_total: 1 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    await admitted(sale, a, b); // b is admitted, and loses the race for the one unit
    const key = idemKey();
    const first = documented("POST", CL, await claim(sale, a.token, key), 201);
    documented("POST", CL, await claim(sale, a.token, key), 200);
    // The object's refusal, then the edge's to a claim without a pass (it knows now, and says
    // where a lost hold is).
    documented("POST", CL, await claim(sale, b.token), 409, "sold_out");
    const crowd = { token: c.token, body: {}, headers: { "idempotency-key": idemKey() } };
    const fast = documented("POST", CL, await call("POST", `/api/sales/${sale}/claim`, crowd), 409, "sold_out");
    expect(fast.body.your_holds).toBe(`/api/sales/${sale}/holds`);

    const limited = await createSale({ id: saleId("oa") });
    const hold = await heldBy(limited, a.token);
    expect((await pay(hold.id, a.token)).status).toBe(200);
    documented("POST", CL, await claim(limited, a.token), 409, "limit_reached");

    const waitlist = await createSale({ id: saleId("oa"), stock_total: 1, release_policy: "waitlist" });
    await heldBy(waitlist, a.token);
    documented("POST", CL, await claim(waitlist, b.token), 202);

    const open = await createSale({ id: saleId("oa") });
    const post = (opts: Parameters<typeof call>[2]) => call("POST", `/api/sales/${open}/claim`, { token: b.token, ...opts });
    const k = { "idempotency-key": idemKey() };
    documented("POST", CL, await post({ headers: k, body: {} }), 403, "pass_required");
    const pass = { ...k, "x-pass": await passFor(open, b.token) };
    documented("POST", CL, await post({ headers: pass, body: { qty: 0 } }), 400, "invalid_request");
    documented("POST", CL, await post({ headers: { "x-pass": pass["x-pass"] }, body: {} }), 400, "invalid_request");
    const withBody = (body: string, type = "application/json") => ({ raw: body, headers: { ...pass, "content-type": type } });
    documented("POST", CL, await post(withBody("{not json")), 400, "invalid_request");
    documented("POST", CL, await post(withBody(JSON.stringify({ qty: 1 }), "text/plain")), 415, "unsupported_media_type");
    documented("POST", CL, await post(withBody(big)), 413, "payload_too_large");
    documented("POST", CL, await call("POST", `/api/sales/${open}/claim`, { headers: pass, body: {} }), 401, "unauthorized");

    const scheduled = await createSale({ id: saleId("oa"), ...inAnHour() });
    documented("POST", CL, await claim(scheduled, b.token), 425, "not_open");
    const closed = await createSale({ id: saleId("oa") });
    await admin("POST", `/sales/${closed}/close`);
    documented("POST", CL, await claim(closed, b.token), 410, "sale_closed");

    documented("GET", "/api/sales/{id}/holds", await call("GET", `/api/sales/${sale}/holds`, { token: a.token }), 200);
    expect(first.body.hold.status).toBe("held");
  });

  it("holds and payments: get, cancel, pay (200, 202, 402, 409, 410), orders", async () => {
    const H = "/api/holds/{id}";
    const P = "/api/holds/{id}/pay";
    const O = "/api/orders/{id}";
    const sale = await createSale({ id: saleId("oa"), stock_total: 10, per_user_limit: 5 });
    // A turn carries a unit: a pass whose hold has ended makes no other, so each hold below is a
    // shopper of its own (one session, `token`, for the holds that are looked at again).
    const { token } = await session();
    const own = async () => (await session()).token;
    const hold = await heldBy(sale, token);
    documented("GET", H, await call("GET", `/api/holds/${hold.id}`, { token }), 200);
    documented("GET", H, await call("GET", `/api/holds/${sale}_h${"0".repeat(20)}`, { token }), 404, "not_found");
    documented("DELETE", H, await call("DELETE", `/api/holds/${hold.id}`, { token }), 200);
    documented("POST", P, await pay(hold.id, token), 410, "hold_ended");

    const buyer = await own();
    const paid = documented("POST", P, await pay((await heldBy(sale, buyer)).id, buyer, "tok_ok"), 200);
    documented("DELETE", H, await call("DELETE", `/api/holds/${paid.body.hold.id}`, { token: buyer }), 409, "conflict");
    documented("GET", O, await call("GET", `/api/orders/${paid.body.order_id}`, { token: buyer }), 200);
    documented("GET", O, await call("GET", `/api/orders/${sale}_o${"0".repeat(20)}`, { token }), 404, "not_found");
    documented("GET", O, await call("GET", `/api/orders/${paid.body.order_id}`), 401, "unauthorized");

    const declined = await own();
    documented("POST", P, await pay((await heldBy(sale, declined)).id, declined, "tok_decline"), 402, "payment_declined");
    // One card, one unit (limit 1): refused before a charge, or refunded when known only with it.
    const one = await createSale({ id: saleId("oa"), stock_total: 5 });
    const [x, y, z] = await Promise.all([session(), session(), session()]);
    documented("POST", P, await pay((await heldBy(one, x.token)).id, x.token, "tok_ok.card-doc"), 200);
    documented("POST", P, await pay((await heldBy(one, y.token)).id, y.token, "tok_ok.card-doc"), 409, "card_limit_reached");
    documented("POST", P, await pay((await heldBy(one, z.token)).id, z.token, "tok_ok.late-card-doc"), 409, "card_limit_reached");
    // Lands long after the test: the hold stays pending until the object gives up (PAY_GIVE_UP_S).
    const late = await own();
    const pending = documented("POST", P, await pay((await heldBy(sale, late)).id, late, "tok_late_60000"), 202);
    documented("DELETE", H, await call("DELETE", `/api/holds/${pending.body.hold.id}`, { token: late }), 409, "payment_in_progress");
    documented(
      "POST",
      P,
      await call("POST", `/api/holds/${hold.id}/pay`, { token, body: { payment_method: "no spaces allowed" } }),
      400,
      "invalid_request",
    );
  });

  it("429: a session over its limit", async () => {
    const sale = await createSale({ id: saleId("oa") });
    const { token } = await session();
    // 121 polls in at most two 10 s windows: one window has more than the limit of 60.
    const answers = await Promise.all(Array.from({ length: 121 }, () => call("GET", `/api/sales/${sale}/queue`, { token })));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    documented("GET", "/api/sales/{id}/queue", limited[0]!, 429, "rate_limited");
  });
});

describe("operator answers validate against the document", () => {
  it("create, stats, patch, pause/resume/close, restock, reconcile, ledger, faults, and refusals", async () => {
    const A = "/admin/sales";
    const cfg = saleConfig({ id: saleId("oa") });
    documented("POST", A, await admin("POST", "/sales", cfg), 201);
    documented("POST", A, await admin("POST", "/sales", cfg), 200);
    documented("POST", A, await admin("POST", "/sales", { ...cfg, stock_total: 11 }), 409, "conflict");
    documented("POST", A, await admin("POST", "/sales", { ...cfg, stock_total: 0 }), 400, "invalid_request");
    documented(
      "POST",
      A,
      await call("POST", "/admin/sales", { token: env.ADMIN_TOKEN, ...raw(JSON.stringify(cfg), "text/plain") }),
      415,
      "unsupported_media_type",
    );
    documented("POST", A, await call("POST", "/admin/sales", { body: cfg }), 401, "unauthorized");
    documented(
      "POST",
      A,
      await call("POST", "/admin/sales", { body: cfg, headers: { authorization: "Basic abc" } }),
      400,
      "invalid_request",
    );

    const id = cfg.id as string;
    const one = "/admin/sales/{id}";
    // A claim and a payment first, so the figures have something in them.
    const { token } = await session();
    await pay((await heldBy(id, token)).id, token);
    documented("GET", one, await admin("GET", `/sales/${id}`), 200);
    documented("GET", A, await admin("GET", "/sales"), 200);
    const S = "/admin/sales/{id}/series";
    const series = documented("GET", S, await admin("GET", `/sales/${id}/series`), 200);
    expect(series.body.values.claim_held).toBeDefined();
    documented("GET", S, await admin("GET", `/sales/${id}/series?since=${series.body.now - 60}`), 200);
    documented("GET", S, await admin("GET", `/sales/${id}/series?since=soon`), 400, "invalid_request");
    documented("GET", S, await admin("GET", `/sales/${saleId("oa")}/series`), 404, "not_found");
    documented("GET", one, await admin("GET", `/sales/${saleId("oa")}`), 404, "not_found");
    documented("PATCH", one, await admin("PATCH", `/sales/${id}`, { hold_ttl_s: 120 }), 200);
    documented("PATCH", one, await admin("PATCH", `/sales/${id}`, {}), 400, "invalid_request");

    const act = "/admin/sales/{id}/{action}";
    for (const action of ["pause", "resume", "close"]) documented("POST", act, await admin("POST", `/sales/${id}/${action}`), 200);
    documented("POST", act, await admin("POST", `/sales/${id}/resume`), 410, "sale_closed");
    documented("POST", act, await admin("POST", `/sales/${saleId("oa")}/pause`), 404, "not_found");
    documented("POST", "/admin/sales/{id}/restock", await admin("POST", `/sales/${id}/restock`, { qty: 2 }), 200);
    documented("POST", "/admin/sales/{id}/restock", await admin("POST", `/sales/${id}/restock`, { qty: -1 }), 400, "invalid_request");
    documented("POST", "/admin/sales/{id}/reconcile", await admin("POST", `/sales/${id}/reconcile`), 200);
    documented("POST", "/admin/sales/{id}/events/resend", await admin("POST", `/sales/${id}/events/resend`), 200);
    documented("POST", "/admin/sales/{id}/events/resend", await admin("POST", `/sales/${saleId("oa")}/events/resend`), 404, "not_found");

    documented("GET", "/admin/gateway/ledger", await admin("GET", "/gateway/ledger"), 200);
    documented("GET", "/admin/payments", await admin("GET", "/payments"), 200);
    documented("POST", "/admin/faults", await admin("POST", "/faults", {}), 403, "forbidden");
    // `gateway: {}` clears the simulated gateway's overrides: there are none in this file.
    const faults = await call("POST", "/admin/faults", { token: env.ADMIN_TOKEN, body: { gateway: {} }, env: { ALLOW_FAULTS: "true" } });
    documented("POST", "/admin/faults", faults, 200);
  });
});

describe("payments", () => {
  it("Stripe's webhook: 200 verified (not applied), 400 bad_signature, 503 misconfigured", async () => {
    const W = "/api/webhooks/stripe";
    const secret = `whsec_${"ab12".repeat(8)}`;
    const payload = JSON.stringify({
      id: "evt_doc",
      object: "event",
      type: "customer.created",
      created: 1,
      data: { object: { id: "cus_doc" } },
    });
    const header = await Stripe.webhooks.generateTestHeaderStringAsync({
      payload,
      secret,
      cryptoProvider: Stripe.createSubtleCryptoProvider(),
    });
    const send = (h: string, e: Partial<Env>) =>
      call("POST", W, { ...raw(payload), headers: { "content-type": "application/json", "stripe-signature": h }, env: e });
    documented("POST", W, await send(header, { STRIPE_WEBHOOK_SECRET: secret }), 200);
    documented("POST", W, await send(header, { STRIPE_WEBHOOK_SECRET: `${secret}x` }), 400, "bad_signature");
    documented("POST", W, await send(header, { STRIPE_WEBHOOK_SECRET: "" }), 503, "misconfigured");
  });
});

describe("the shop's events", () => {
  it("are the document's webhooks, one per type, and real bodies validate against them", () => {
    const hooks = (
      doc as unknown as { webhooks: Record<string, { post: { requestBody: { content: { "application/json": { schema: Schema } } } } }> }
    ).webhooks;
    expect(Object.keys(hooks).sort()).toEqual([...EVENT_TYPES].sort());
    const t = "2026-12-07T10:00:00.000Z";
    const order = {
      order_id: "d_o1",
      sale_id: "d",
      hold_id: "d_h1",
      user_id: "acct:a",
      product_id: "p",
      qty: 1,
      amount: 100,
      currency: "EUR",
      charge_id: "ch_1",
      held_at: t,
      confirmed_at: t,
    };
    const refund = {
      refund_id: "rf_ch_1",
      order_id: null,
      sale_id: "d",
      hold_id: "d_h1",
      user_id: "acct:a",
      charge_id: "ch_1",
      refund_ref: "re_1",
      amount: 100,
      currency: "EUR",
      reason: "late",
      refunded_at: t,
    };
    const bodies: Record<string, unknown> = {
      "order.confirmed": order,
      "order.refunded": refund,
      "sale.sold_out": { sale_id: "d", stock_total: 3, sold: 3, withdrawn: 0 },
      "sale.ended": { sale_id: "d", reason: "closed", stock_total: 3, sold: 3 },
    };
    for (const type of EVENT_TYPES) {
      const event = ShopEvent.parse({ id: `${type}:x`, type, version: 1, created: t, data: bodies[type] });
      expectValid(hooks[type]!.post.requestBody.content["application/json"].schema, event, `webhook ${type}`);
      // And the document refuses another type's body under this one.
      const { errors } = new Validator(
        { ...asJsonSchema(hooks[type]!.post.requestBody.content["application/json"].schema), $defs: defs },
        "2020-12",
        false,
      ).validate({ ...event, type: type === "sale.ended" ? "order.confirmed" : "sale.ended" });
      expect(errors.length).toBeGreaterThan(0);
    }
  });
});

describe("coverage", () => {
  it("every route in the document was answered above, at least one success each", () => {
    const ops = Object.entries(doc.paths).flatMap(([path, o]) => Object.keys(o).map((m) => `${m.toUpperCase()} ${path}`));
    const missing = ops.filter((op) => ![...answered].some((a) => /^[23]/.test(a.slice(op.length + 1)) && a.startsWith(`${op} `)));
    expect(missing).toEqual([]);
  });
});
