import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { call } from "./support/worker";

/** Invariant 9's last resort: an unexpected exception is a 500 `internal` that names no internals. */
describe("unexpected errors", () => {
  // The 500 is logged with console.error by design; keep it out of the test output.
  let spy: MockInstance<typeof console.error>;
  beforeAll(() => void (spy = vi.spyOn(console, "error").mockImplementation(() => {})));
  afterAll(() => spy.mockRestore());

  it("a misconfigured secret becomes 500 {error:internal} with a reference, no stack or detail", async () => {
    // TOKEN_SECRET shorter than 32 chars makes tokens.ts throw a plain Error (no source change needed).
    const res = await call("POST", "/api/session", { env: { TOKEN_SECRET: "short" } });
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(["error", "message"]);
    expect(res.body.error).toBe("internal");
    const ref = /logged as ([0-9a-f-]{36})$/.exec(res.body.message)?.[1];
    expect(ref).toBeDefined();
    const text = JSON.stringify(res.body);
    for (const leak of ["TOKEN_SECRET", "Error", " at ", ".ts", "short"]) expect(text).not.toContain(leak);
    // The detail went to the log instead, under the same reference.
    const logged = spy.mock.calls.map((a) => String(a[0])).find((l) => l.includes(ref!));
    expect(logged).toContain("TOKEN_SECRET");
  });
});
