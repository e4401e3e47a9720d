// The world the bad-input tests (test/bad-input.*.test.ts) send their bad requests into: sales in
// every state, shoppers with a live hold, a cancelled one and a paid order, and the proof that a
// refused request changed nothing anywhere. Each test file builds its own, with fresh ids: files
// share a runtime, and another file may have moved the clock past this world's holds.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { ERRORS } from "../../domain/result";
import { now } from "./clock";
import { saleConfig, saleId } from "./sales";
import { heldBy, idemKey, passFor, pay, session } from "./shoppers";
import { admin, call, ledger, stats, stub, until } from "./worker";

export type Res = Awaited<ReturnType<typeof call>>;
export type Opts = NonNullable<Parameters<typeof call>[2]>;

// Every sale here starts with "bad-", so D1 rows and gateway charges of other files are ignored.
const P = "bad";
export let A = ""; // open, stock 5: alice holds 1, dave cancelled 1
export let B = ""; // open: alice bought 1 (confirmed order)
export let C = ""; // closed
export let D = ""; // scheduled (starts in an hour)
export let GHOST = ""; // never created: every refused POST /admin/sales uses this id
export let NOSALE = ""; // never created either: the "unknown sale" of well-formed ids

export const u = {} as Record<"alice" | "bob" | "carol" | "dave" | "mallory", { token: string; user: string }>;
export let holdA = ""; // alice's live hold in A
export let holdB = ""; // alice's confirmed hold in B
export let orderB = ""; // and its order
export let cancelledA = ""; // dave's cancelled hold in A
export const zeros = "0".repeat(20);

export const json = (body: unknown) => JSON.stringify(body);
export const withJson = (raw: string, type = "application/json") => ({ raw, headers: { "content-type": type } });
export const big = json({ qty: 1, payment_method: "tok_ok", pad: "x".repeat(17 * 1024) });

/** Builds the world above (run it in `beforeAll`). */
export async function setUpSales() {
  [A, B, C, D, GHOST, NOSALE] = [saleId(P), saleId(P), saleId(P), saleId(P), saleId(P), saleId(P)];
  for (const name of ["alice", "bob", "carol", "dave", "mallory"] as const) u[name] = await session();
  const open = saleConfig();
  for (const [id, o] of [
    [A, { stock_total: 5 }],
    [B, {}],
    [C, {}],
    [D, { starts_at: now() + 3600_000, ends_at: now() + 7200_000 }],
  ] as const) {
    const res = await admin("POST", "/sales", { ...open, ...o, id });
    if (res.status !== 201) throw new Error(`create ${id}: ${res.status} ${json(res.body)}`);
  }
  holdA = (await heldBy(A, u.alice.token)).id;
  cancelledA = (await heldBy(A, u.dave.token)).id;
  expect((await call("DELETE", `/api/holds/${cancelledA}`, { token: u.dave.token })).status).toBe(200);
  holdB = (await heldBy(B, u.alice.token)).id;
  const paid = await pay(holdB, u.alice.token);
  expect(paid.status).toBe(200);
  orderB = paid.body.order_id;
  expect((await admin("POST", `/sales/${C}/close`)).status).toBe(200);
  // Let every outbox reach D1 first, so the only writes left would be the ones under test.
  for (const s of [A, B, C, D]) await until(s, async () => (await stats(s)).outbox.backlog === 0);
  const a = await stats(A);
  expect(a.stock).toMatchObject({ available: 4, held: 1 });
}

// ------------------------------------------------------------------ state before/after

const tables = ["sale", "holds", "waitlist", "refunds", "outbox"] as const;

/** Everything a write could touch: each object's tables, D1's rows, the gateway's charges. */
async function snapshot() {
  const sales = [A, B, C, D, GHOST, NOSALE];
  const dumps = Promise.all(
    sales.map((sale) =>
      runInDurableObject(stub(sale), (_i, state) =>
        Object.fromEntries(tables.map((t) => [t, state.storage.sql.exec(`SELECT * FROM ${t}`).toArray()])),
      ),
    ),
  );
  const d1 = env.DB.batch([
    env.DB.prepare("SELECT * FROM sales WHERE id LIKE ? ORDER BY id").bind(`${P}-%`),
    env.DB.prepare("SELECT * FROM orders WHERE sale_id LIKE ? ORDER BY id").bind(`${P}-%`),
    env.DB.prepare("SELECT * FROM refunds WHERE sale_id LIKE ? ORDER BY id").bind(`${P}-%`),
  ]);
  const charges = (await ledger()).filter((c) => c.reference.startsWith(`${P}-`));
  const objects = Object.fromEntries((await dumps).map((d, i) => [sales[i], d]));
  return { objects, d1: (await d1).map((r) => r.results), charges };
}

/** A refusal: the stated 4xx, `{ error, message }` as JSON, the status the error table gives. */
export function expectRefusal(res: Res, status: number, error: string) {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(typeof res.body.message).toBe("string");
  expect(res.body.message.length).toBeGreaterThan(0);
  expect(ERRORS[res.body.error as keyof typeof ERRORS]).toBe(res.status);
}

/** Sends, then proves the refusal and that nothing anywhere changed. */
export async function refusedWithoutWrite(sendIt: () => Promise<Res>, status: number, error: string) {
  const before = await snapshot();
  const res = await sendIt();
  expectRefusal(res, status, error);
  expect(await snapshot()).toEqual(before);
  return res;
}

// ------------------------------------------------------------------ cases

export type Case = { name: string; go: () => Promise<Res>; status: number; error: string };
export const c = (name: string, status: number, error: string, go: () => Promise<Res>): Case => ({ name, go, status, error });
export const claimAs = (token: () => string, sale: () => string, opts: Opts = {}, key: string | null = "k-") =>
  call("POST", `/api/sales/${sale()}/claim`, {
    token: token(),
    ...opts,
    headers: { ...(key === null ? {} : { "idempotency-key": key === "k-" ? idemKey() : key }), ...opts.headers },
  });
// Carol is admitted to sale A, so her claims there fail only for what the case is about.
export const carolClaims = async (opts: Opts = {}, key?: string | null) =>
  claimAs(
    () => u.carol.token,
    () => A,
    { ...opts, headers: { "x-pass": await passFor(A, u.carol.token), ...opts.headers } },
    key,
  );
