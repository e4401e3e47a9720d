import { TrieRouter } from "hono/router/trie-router";
import { describe, expect, it } from "vitest";
import { RememberingRouter } from "../src/lib/router";

const ROUTES: [string, string][] = [
  ["GET", "/api/sales/:id"],
  ["GET", "/api/sales/:id/queue"],
  ["POST", "/api/sales/:id/queue"],
  ["POST", "/api/sales/:id/claim"],
  ["GET", "/api/holds/:id"],
  ["POST", "/admin/sales/:id/:action{pause|resume|close}"],
  ["POST", "/admin/sales/:id/restock"],
  ["ALL", "*"],
];
const PATHS = [
  "/api/sales/a",
  "/api/sales/b/queue",
  "/api/sales/a/claim",
  "/api/holds/x_h1",
  "/api/holds/x_h2",
  "/admin/sales/a/pause",
  "/admin/sales/a/restock",
  "/admin/sales/a/other",
  "/nothing",
];

describe("the app's router", () => {
  it("answers as Hono's TrieRouter does, the first time and every time after, and forgets when a route is added", () => {
    const fresh = new TrieRouter<string>();
    const kept = new RememberingRouter<string>();
    for (const [m, p] of ROUTES) {
      fresh.add(m, p, `${m} ${p}`);
      kept.add(m, p, `${m} ${p}`);
    }
    for (let round = 0; round < 3; round++) {
      for (const method of ["GET", "POST"])
        for (const path of PATHS) expect(kept.match(method, path), `${method} ${path}`).toStrictEqual(fresh.match(method, path));
    }
    expect(kept.match("GET", "/api/holds/x_h1")[0].map(([, params]) => params)).toContainEqual({ id: "x_h1" });
    // A route added later is seen at once, also on a path answered before it was added.
    expect(kept.match("GET", "/api/holds/x_h1/late")[0].map(([h]) => h)).not.toContain("late");
    const late: [string, string] = ["GET", "/api/holds/:id/late"];
    for (const r of [fresh, kept]) r.add(late[0], late[1], "late");
    expect(kept.match("GET", "/api/holds/x_h1/late")).toStrictEqual(fresh.match("GET", "/api/holds/x_h1/late"));
    expect(kept.match("GET", "/api/holds/x_h1/late")[0].map(([h]) => h)).toContain("late");
  });
});
