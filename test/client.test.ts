import { describe, expect, it } from "vitest";
import { ApiError, createClient, type Transport } from "../domain/client.js";

type Sent = { method: string; path: string; init: Record<string, unknown> & { headers: Record<string, string>; body?: string } };

/** A transport that records what it is given and answers from a script, in order. */
function scripted(answers: Array<{ status: number; text?: string; headers?: Record<string, string>; [k: string]: unknown }>) {
  const sent: Sent[] = [];
  const queue = [...answers];
  const transport: Transport<{ urgent: boolean }> = async (method, path, init) => {
    sent.push({ method, path, init: init as Sent["init"] });
    const a = queue.shift();
    if (!a) throw new Error(`no answer scripted for ${method} ${path}`);
    return a;
  };
  return { sent, transport };
}
const json = (status: number, body: unknown, extra: Record<string, unknown> = {}) => ({ status, text: JSON.stringify(body), ...extra });

/** The shopper client (domain/client.js) on its own, over a scripted transport. */
describe("domain/client.js", () => {
  it("builds one request: its defaults, the bearer, a JSON body with its type, caller headers last; transport options pass through", async () => {
    const { sent, transport } = scripted([json(201, { hold: { id: "h" } })]);
    const api = createClient({ transport, headers: { "user-agent": "ua/1", accept: "text/plain" } });
    const r = await api.claim(
      "s1",
      "tok",
      { pass: "p", key: "k-123456" },
      { urgent: true, headers: { "user-agent": "other/2", "x-undefined": undefined } },
    );
    expect(r).toMatchObject({ status: 201, body: { hold: { id: "h" } } });
    expect(sent).toHaveLength(1);
    const [{ method, path, init }] = sent as [Sent];
    expect({ method, path }).toEqual({ method: "POST", path: "/api/sales/s1/claim" });
    expect(init.urgent).toBe(true);
    expect(init.headers).toEqual({
      accept: "text/plain",
      "user-agent": "other/2",
      authorization: "Bearer tok",
      "content-type": "application/json",
      "idempotency-key": "k-123456",
      "x-pass": "p",
    });
    expect(JSON.parse(init.body!)).toEqual({});
  });

  it("reads a non-JSON answer as bad_response (with the raw text), keeps the transport's own fields, and gives Headers", async () => {
    const { transport } = scripted([{ status: 502, text: "<html>bad gateway</html>", headers: { "retry-after": "3" }, ms: 12 }]);
    const r = await createClient({ transport }).sale("s1");
    expect(r.status).toBe(502);
    expect(r.body).toEqual({ error: "bad_response", message: "unexpected answer (HTTP 502)", raw: "<html>bad gateway</html>" });
    expect(r.headers).toBeInstanceOf(Headers);
    expect(r.headers.get("retry-after")).toBe("3");
    expect(r.ms).toBe(12);
    expect(r).not.toHaveProperty("text");
  });

  it("admit: challenge → solve → queue → polls at the suggested interval (bounded) until the pass", async () => {
    const waiting = (ticket: string, refresh_s: number) => json(200, { state: "waiting", position: 3, refresh_s, ticket });
    const { sent, transport } = scripted([
      json(200, { challenge: "c", nonce: "n", bits: 0 }),
      json(201, { state: "waiting", position: 5, refresh_s: 0.01, ticket: "t1" }),
      waiting("t2", 60), // capped at maxPollMs
      json(200, { state: "admitted", ticket: "t3", pass: "pass!" }),
    ]);
    const solved: unknown[] = [];
    const t0 = Date.now();
    const r = await createClient({ transport }).admit("s1", "tok", {
      solve: async (n, b) => {
        solved.push([n, b]);
        return "sol";
      },
      minPollMs: 20,
      maxPollMs: 40,
    });
    const ms = Date.now() - t0;
    expect(r.body.pass).toBe("pass!");
    expect(solved).toEqual([["n", 0]]);
    expect(sent.map((s) => `${s.method} ${s.path} ${s.init.headers["x-ticket"] ?? ""}`.trim())).toEqual([
      "POST /api/sales/s1/challenge",
      "POST /api/sales/s1/queue",
      "GET /api/sales/s1/queue t1",
      "GET /api/sales/s1/queue t2",
    ]);
    expect(JSON.parse(sent[1]!.init.body!)).toEqual({ challenge: "c", solution: "sol" });
    // 10 ms suggested → 20 (the minimum); 60 s suggested → 40 (the maximum).
    expect(ms).toBeGreaterThanOrEqual(55);
    expect(ms).toBeLessThan(1000);
  });

  it("admit gives up with an ApiError: after maxPolls, on a refusal, or on a pre-queue place when told not to wait", async () => {
    const challenge = () => json(200, { challenge: "c", nonce: "n", bits: 0 });
    const solve = async () => "0";
    const still = () => json(200, { state: "waiting", position: 1, refresh_s: 0, ticket: "t" });
    const cases: [string, ReturnType<typeof json>[], object, RegExp][] = [
      ["out of polls", [challenge(), still(), still(), still()], { maxPolls: 2, minPollMs: 0 }, /^not admitted after 2 polls: 200/],
      ["refused", [challenge(), json(403, { error: "pow_failed", message: "no" })], {}, /^queue: 403 .*pow_failed/],
      ["no challenge", [json(410, { error: "sale_closed", message: "closed" })], {}, /^challenge: 410/],
      [
        "pre-queue",
        [challenge(), json(201, { state: "waiting", position: null, refresh_s: 5, ticket: "t" })],
        { waitForOpening: false },
        /pre-queue/,
      ],
    ];
    for (const [what, answers, how, message] of cases) {
      const { transport } = scripted(answers);
      const err = await createClient({ transport })
        .admit("s1", "tok", { solve, ...how })
        .catch((e) => e);
      expect(err, what).toBeInstanceOf(ApiError);
      expect(err.message, what).toMatch(message);
      expect(err.answer.status, what).toBe(answers.at(-1)!.status);
    }
  });
});
