import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { call } from "./support/worker";

/** Invariant 9's last resort: an unexpected exception is a 500 `internal` that names no internals. */
describe("unexpected errors", () => {
  // The 500 is logged with console.error by design; keep it out of the test output.
  let spy: MockInstance<typeof console.error>;
  beforeAll(() => void (spy = vi.spyOn(console, "error").mockImplementation(() => {})));
  afterAll(() => spy.mockRestore());

  it("an unexpected error (an invalid [vars] value) becomes 500 {error:internal} with a reference, no stack or detail", async () => {
    // A var that does not parse makes domain/config.ts throw a plain Error (no source change needed).
    const res = await call("GET", "/api/sales/any-sale", { env: { EDGE_CACHE_MS: "soon" } });
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(["error", "message"]);
    expect(res.body.error).toBe("internal");
    const ref = /logged as ([0-9a-f-]{36})$/.exec(res.body.message)?.[1];
    expect(ref).toBeDefined();
    const text = JSON.stringify(res.body);
    for (const leak of ["EDGE_CACHE_MS", "Error", " at ", ".ts", "soon"]) expect(text).not.toContain(leak);
    // The detail went to the log instead, under the same reference.
    const logged = spy.mock.calls.map((a) => String(a[0])).find((l) => l.includes(ref!));
    expect(logged).toContain("EDGE_CACHE_MS");
  });
});
