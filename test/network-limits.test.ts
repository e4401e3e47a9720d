import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { networkOf } from "../domain/network";
import { alignToWindow } from "./support/edge";
import { call } from "./support/worker";

let n = 0;
/** A fresh /64 (or IPv4 /32) per test, so limiter windows never carry over between tests. */
const fresh6 = () => `2001:db8:${(++n).toString(16)}:${Date.now().toString(16).slice(-4)}`;
const fresh4 = () => `198.51.${++n % 256}.${Math.floor(Math.random() * 256)}`;

const adminFrom = (ip: string, token: string) => call("GET", "/admin/sales/no-such-sale", { token, headers: { "cf-connecting-ip": ip } });
const sessionFrom = (ip: string) => call("POST", "/api/session", { headers: { "cf-connecting-ip": ip } });
const count = (xs: { status: number }[]) => {
  const m: Record<number, number> = {};
  for (const r of xs) m[r.status] = (m[r.status] ?? 0) + 1;
  return m;
};

/** Audit item 9: a client's network is its IPv4 address or its IPv6 /64; a missing address is no one's. */
describe("client networks", () => {
  it("keys IPv4 by address and IPv6 by /64, whatever the spelling; garbage and missing addresses are their own kind", () => {
    const same = (a: string, b: string) => expect(networkOf(a).key, `${a} ~ ${b}`).toBe(networkOf(b).key);
    const differ = (a: string, b: string) => expect(networkOf(a).key, `${a} !~ ${b}`).not.toBe(networkOf(b).key);
    same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff");
    same("2001:db8:1:2::1", "2001:0DB8:0001:0002:0:0:0:9");
    same("2001:db8:1:2::1", "[2001:db8:1:2::7]");
    same("2001:db8:1:2::1", "2001:db8:1:2::1%eth0");
    differ("2001:db8:1:2::1", "2001:db8:1:3::1");
    same("::ffff:192.0.2.7", "192.0.2.7");
    same(" 192.0.2.7 ", "192.0.2.7");
    differ("192.0.2.7", "192.0.2.8");
    for (const junk of ["", "unknown", "256.0.0.1", "1.2.3", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "localhost", "v4:1.2.3.4"]) {
      expect(networkOf(junk), junk).toEqual({ kind: "none", key: "none" });
    }
    expect(networkOf(undefined).key).toBe("none");
    // A header value can never spell another client's key.
    expect(networkOf("v4:192.0.2.7").key).not.toBe(networkOf("192.0.2.7").key);
  });

  it("rate-limits a whole IPv6 /64 as one client, and a neighbouring /64 not at all", async () => {
    const net = fresh6();
    // RL_IP is 300 per 10 s: every address of the /64 draws on the same budget.
    const burst = await Promise.all(Array.from({ length: 320 }, (_, i) => sessionFrom(`${net}:${(i + 1).toString(16)}::1`)));
    const seen = count(burst);
    expect(seen[201]).toBeLessThanOrEqual(300);
    expect(seen[429]).toBeGreaterThanOrEqual(20);
    expect(burst.find((r) => r.status === 429)!.headers.get("retry-after")).toBe("10");
    expect((await sessionFrom(`${fresh6()}::1`)).status).toBe(201);
  });

  it("requests without a usable address share a bucket of their own, never a real client's", async () => {
    const real = fresh4();
    await alignToWindow(); // the 310 land in one of the limiter's 10 s windows of real time
    const nobody = await Promise.all(Array.from({ length: 310 }, (_, i) => sessionFrom(i % 2 ? "" : "not-an-address")));
    expect(count(nobody)[429]).toBeGreaterThanOrEqual(10);
    // The real client at its own address is untouched by that flood.
    expect((await sessionFrom(real)).status).toBe(201);
  });
});

/** Audit item 2: guessing the admin token is slow, and a network that guesses is shut out. */
describe("admin API rate limits", () => {
  it("answers a burst of 300 wrong tokens from one network with at most 10 401s, then 429 with Retry-After", async () => {
    const ip = fresh4();
    await alignToWindow(); // the 300 land in one of the limiter's 10 s windows of real time
    const res = await Promise.all(Array.from({ length: 300 }, (_, i) => adminFrom(ip, `wrong-token-${i}-${"x".repeat(20)}`)));
    const seen = count(res);
    expect(seen[401] ?? 0).toBeLessThanOrEqual(10);
    expect(seen[429]).toBeGreaterThanOrEqual(290);
    for (const r of res.filter((x) => x.status === 429)) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("shuts the guessing network out: even the right token is refused there for a minute, not elsewhere", async () => {
    const net = fresh6();
    for (let i = 0; i < 12; i++) await adminFrom(`${net}::${i + 1}`, `guess-${i}-${"y".repeat(24)}`);
    // Another address in the same /64, with the right token: refused before the token is compared.
    const locked = await adminFrom(`${net}::beef`, env.ADMIN_TOKEN);
    expect(locked.status).toBe(429);
    expect(locked.body.error).toBe("rate_limited");
    // The operator at another network is not affected.
    expect((await adminFrom(`${fresh6()}::1`, env.ADMIN_TOKEN)).status).toBe(404);
  });

  it("does not count requests with no credential at all (no guess: the dashboard's first look)", async () => {
    const ip = fresh4();
    const bare = await Promise.all(Array.from({ length: 15 }, () => call("GET", "/admin/sales", { headers: { "cf-connecting-ip": ip } })));
    expect(count(bare)).toEqual({ 401: 15 });
    expect((await adminFrom(ip, env.ADMIN_TOKEN)).status).toBe(404);
  });

  it("limits even right tokens per network (60 per 10 s), so a stolen token cannot hammer the API", async () => {
    const ip = fresh4();
    const res = await Promise.all(Array.from({ length: 80 }, () => adminFrom(ip, env.ADMIN_TOKEN)));
    const seen = count(res);
    expect(seen[404]).toBeLessThanOrEqual(60);
    expect(seen[429]).toBeGreaterThanOrEqual(20);
  });
});
