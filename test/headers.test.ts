import { describe, expect, it } from "vitest";
import { createSale } from "./support/sales";
import { enqueue, heldBy, idemKey, passFor, pay, session } from "./support/shoppers";
import { call } from "./support/worker";

type Answer = Awaited<ReturnType<typeof call>>;
const noStore = (what: string, a: Answer) => {
  expect(a.headers.get("cache-control"), what).toBe("no-store");
  expect(a.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(a.headers.get("x-frame-options"), what).toBe("DENY");
  expect(a.headers.get("content-security-policy"), what).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(a.headers.get("content-type"), what).toMatch(/^application\/json/);
};

/** Audit item 7: answers that carry a token or a shopper's data are never cached; the API cannot be framed. */
describe("response headers", () => {
  it("every answer with a token or personal data says no-store, successes and refusals alike", async () => {
    const sale = await createSale({ stock_total: 1 });
    const s = await session();
    const answers: [string, Answer][] = [];
    answers.push(["session", await call("POST", "/api/session")]);
    answers.push(["challenge", await call("POST", `/api/sales/${sale}/challenge`, { token: s.token })]);
    const q = await enqueue(sale, s.token);
    answers.push(["queue", q]);
    answers.push(["poll", await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": q.body.ticket } })]);
    const claimed = { token: s.token, body: {}, headers: { "idempotency-key": idemKey(), "x-pass": await passFor(sale, s.token) } };
    const first = await call("POST", `/api/sales/${sale}/claim`, claimed);
    answers.push(["claim", first], ["claim replayed", await call("POST", `/api/sales/${sale}/claim`, claimed)]);
    const hold = first.body.hold;
    answers.push(["hold", await call("GET", `/api/holds/${hold.id}`, { token: s.token })]);
    // Sold out under a waitlist: a place on it (202).
    const listed = await createSale({ stock_total: 1, release_policy: "waitlist" });
    const [holder, second] = await Promise.all([session(), session()]);
    await heldBy(listed, holder.token);
    const waiting = {
      token: second.token,
      body: {},
      headers: { "idempotency-key": idemKey(), "x-pass": await passFor(listed, second.token) },
    };
    answers.push(["waitlisted", await call("POST", `/api/sales/${listed}/claim`, waiting)]);
    answers.push(["holds", await call("GET", `/api/sales/${sale}/holds`, { token: s.token })]);
    const paid = await pay(hold.id, s.token);
    answers.push(["pay", paid]);
    answers.push(["order", await call("GET", `/api/orders/${paid.body.order_id}`, { token: s.token })]);
    // Refusals: a bad token, a claim on a sold-out sale (object and fast path), an unknown hold.
    answers.push(["401", await call("POST", `/api/sales/${sale}/challenge`, { token: "nope" })]);
    const other = await session();
    answers.push([
      "409 (object)",
      await call("POST", `/api/sales/${sale}/claim`, { token: other.token, body: {}, headers: { "idempotency-key": idemKey() } }),
    ]);
    answers.push([
      "409 (fast path)",
      await call("POST", `/api/sales/${sale}/claim`, { token: other.token, body: {}, headers: { "idempotency-key": idemKey() } }),
    ]);
    answers.push(["404", await call("GET", `/api/holds/${sale}_h${"0".repeat(20)}`, { token: s.token })]);
    expect(answers.find(([w]) => w === "claim")![1].status).toBe(201);
    expect(answers.find(([w]) => w === "claim replayed")![1].status).toBe(200);
    expect(answers.find(([w]) => w === "waitlisted")![1].status).toBe(202);
    for (const [what, a] of answers) noStore(`${what} (${a.status})`, a);
  });

  it("a sale's public info may be cached for a second; the API is never framed nor sniffed", async () => {
    const sale = await createSale();
    const info = await call("GET", `/api/sales/${sale}`);
    expect(info.headers.get("cache-control")).toBe("public, max-age=1");
    for (const a of [info, await call("GET", "/api/openapi.json"), await call("GET", "/admin/sales/x")]) {
      expect(a.headers.get("x-content-type-options")).toBe("nosniff");
      expect(a.headers.get("x-frame-options")).toBe("DENY");
      expect(a.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    }
  });

  it("the API reference page may run only Swagger UI from its CDN", async () => {
    const page = await call("GET", "/api/docs");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src https:\/\/cdn\.jsdelivr\.net/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).not.toMatch(/default-src \*/);
  });

  it("pages get the full page set; JSON answers the small API set (no page headers they have no use for)", async () => {
    const pages = [await call("GET", "/api/docs"), await call("GET", "/demo/sign-in")];
    for (const page of pages.filter((p) => p.status === 200)) {
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      expect(page.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      expect(page.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect(pages[0]!.status).toBe(200);
    const sale = await createSale();
    for (const a of [
      await call("GET", `/api/sales/${sale}`),
      await call("GET", "/api/nothing-here"),
      await call("POST", `/api/sales/${sale}/challenge`),
    ]) {
      expect(a.headers.get("content-type")).toMatch(/^application\/json/);
      expect(a.headers.get("x-content-type-options")).toBe("nosniff");
      expect(a.headers.get("x-frame-options")).toBe("DENY");
      expect(a.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(a.headers.get("strict-transport-security")).toBeNull();
    }
  });
});
