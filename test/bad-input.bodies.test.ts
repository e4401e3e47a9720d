import { beforeAll, describe, expect, it } from "vitest";
import { big, c, type Case, carolClaims, holdA, json, refusedWithoutWrite, setUpSales, u, withJson } from "./support/bad-input";
import { createSale } from "./support/sales";
import { idemKey, passFor, pay } from "./support/shoppers";
import { BROWSER_UA, call, inWorker, stats } from "./support/worker";

beforeAll(setUpSales);

/**
 * Invariant 9 for the bodies and headers a shopper sends: wrong types, missing fields, bad
 * quantities, non-JSON, malformed and oversized bodies, bad idempotency keys. Each answer is a
 * 4xx JSON refusal and the objects, D1 and the gateway are unchanged.
 */
describe("shopper routes refuse bad bodies without writing", () => {
  const cases: Case[] = [
    // session
    c("POST /api/session oversized body", 413, "payload_too_large", () => call("POST", "/api/session", withJson(big))),
    // POST /api/sales/:id/claim: header
    c("claim without Idempotency-Key", 400, "invalid_request", () => carolClaims({ body: {} }, null)),
    c("claim with a short Idempotency-Key", 400, "invalid_request", () => carolClaims({ body: {} }, "abc")),
    c("claim with a 65-char Idempotency-Key", 400, "invalid_request", () => carolClaims({ body: {} }, "k".repeat(65))),
    c("claim with spaces in Idempotency-Key", 400, "invalid_request", () => carolClaims({ body: {} }, "key with spaces")),
    // claim: body
    ...([0, -1, 101, 1e9, 1.5, Number.MAX_SAFE_INTEGER + 2, "1", null, true, [1], { n: 1 }] as unknown[]).map((qty) =>
      c(`claim qty ${json(qty) ?? String(qty)}`, 400, "invalid_request", () => carolClaims({ body: { qty } })),
    ),
    c("claim with an unknown field", 400, "invalid_request", () => carolClaims({ body: { qty: 1, price: 0 } })),
    c("claim body is an array", 400, "invalid_request", () => carolClaims({ body: [{ qty: 1 }] })),
    c("claim body is JSON null", 400, "invalid_request", () => carolClaims(withJson("null"))),
    c("claim body is a JSON string", 400, "invalid_request", () => carolClaims(withJson('"qty"'))),
    c("claim body is malformed JSON", 400, "invalid_request", () => carolClaims(withJson('{"qty":'))),
    c("claim body is empty but labelled JSON", 400, "invalid_request", () => carolClaims(withJson(""))),
    c("claim body sent as text/plain", 415, "unsupported_media_type", () => carolClaims(withJson(json({ qty: 1 }), "text/plain"))),
    c("claim body sent as a form", 415, "unsupported_media_type", () =>
      carolClaims(withJson("qty=1", "application/x-www-form-urlencoded")),
    ),
    c("claim body oversized", 413, "payload_too_large", () => carolClaims(withJson(big))),
    c("claim qty above the per-user limit", 409, "limit_reached", () => carolClaims({ body: { qty: 2 } })),
    c("claim qty 100 (schema max) above the limit", 409, "limit_reached", () => carolClaims({ body: { qty: 100 } })),
    // holds
    c("DELETE hold oversized body", 413, "payload_too_large", () =>
      call("DELETE", `/api/holds/${holdA}`, { token: u.alice.token, ...withJson(big) }),
    ),
    // pay
    ...(["", "tok ok", "tok_ok;drop", "x".repeat(101), 42, null, ["tok_ok"]] as unknown[]).map((pm) =>
      c(`pay with payment_method ${json(pm).slice(0, 20)}`, 400, "invalid_request", () => pay(holdA, u.alice.token, pm as string)),
    ),
    c("pay with an unknown field", 400, "invalid_request", () =>
      call("POST", `/api/holds/${holdA}/pay`, { token: u.alice.token, body: { payment_method: "tok_ok", amount: 1 } }),
    ),
    c("pay with malformed JSON", 400, "invalid_request", () =>
      call("POST", `/api/holds/${holdA}/pay`, { token: u.alice.token, ...withJson("{payment_method:tok_ok}") }),
    ),
    c("pay body sent as text/plain", 415, "unsupported_media_type", () =>
      call("POST", `/api/holds/${holdA}/pay`, { token: u.alice.token, ...withJson(json({ payment_method: "tok_decline" }), "text/plain") }),
    ),
    c("pay body oversized", 413, "payload_too_large", () =>
      call("POST", `/api/holds/${holdA}/pay`, { token: u.alice.token, ...withJson(big) }),
    ),
  ];
  it.each(cases)("$name → $status $error", async ({ go, status, error }) => {
    await refusedWithoutWrite(go, status, error);
  });

  it("a body sent without a length (streamed) is counted as it is read: too big is 413 with nothing written, small is claimed", async () => {
    const sale = await createSale();
    const streamed = async (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          for (let i = 0; i < bytes.length; i += 1024) ctl.enqueue(bytes.slice(i, i + 1024));
          ctl.close();
        },
      });
      const headers = {
        authorization: `Bearer ${u.carol.token}`,
        "content-type": "application/json",
        "idempotency-key": idemKey(),
        "x-pass": await passFor(sale, u.carol.token),
        "user-agent": BROWSER_UA,
        "cf-connecting-ip": "10.9.8.7",
      };
      const req = new Request(`http://flashsale.test/api/sales/${sale}/claim`, {
        method: "POST",
        headers,
        body,
        duplex: "half",
      } as RequestInit);
      expect(req.headers.get("content-length")).toBeNull();
      const res = await inWorker(req);
      return { status: res.status, answer: JSON.parse(res.text) as { error?: string; hold?: { qty: number } } };
    };
    const tooBig = await streamed(big);
    expect(tooBig).toMatchObject({ status: 413, answer: { error: "payload_too_large" } });
    expect((await stats(sale)).stock!.held).toBe(0);
    const small = await streamed(json({ qty: 1 })!);
    expect(small).toMatchObject({ status: 201, answer: { hold: { qty: 1 } } });
  });

  it("sanity: a claim with no body at all still gets the defaults (only a non-JSON body is refused)", async () => {
    const sale = await createSale();
    const headers = { "idempotency-key": idemKey(), "x-pass": await passFor(sale, u.carol.token) };
    const res = await call("POST", `/api/sales/${sale}/claim`, { token: u.carol.token, headers });
    expect(res.status).toBe(201);
    expect(res.body.hold.qty).toBe(1);
    expect((await stats(sale)).stock!.held).toBe(1);
  });
});
