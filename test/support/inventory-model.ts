// The product object against a reference model (test/inventory.model.test.ts): random command
// sequences sent to a real ProductInventory through its RPC surface, each applied to a small
// model (counters and a map of holds), and the two compared after every step.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { expect } from "vitest";
import { gatewaySim, inventory } from "../../domain/objects";
import type { Result } from "../../domain/result";
import type { HoldStatus } from "../../domain/schemas/hold";
import { SaleInput } from "../../domain/schemas/sale";
import { saleConfig } from "./sales";

export const USERS = 4;
const CARD = { ok: "tok_ok", decline: "tok_decline", unknown: "tok_error" } as const;
const HOUR = 3600_000;

type MHold = { id: string; user: number; key: string; qty: number; status: HoldStatus; late: "none" | "unknown" | "landed" };
export type Model = {
  policy: "release" | "undersell";
  limit: number;
  /** Account sale: each user is their own identity; anonymous: users 0,1 and 2,3 share a network. */
  shared: boolean;
  stock_total: number;
  available: number;
  held: number;
  sold: number;
  withdrawn: number;
  paused: boolean;
  holds: MHold[];
  keys: string[][];
  refunds: Set<string>;
};
export type Real = {
  sale: string;
  stub: () => DurableObjectStub<import("../../durable-objects/inventory/product-inventory").ProductInventory>;
};

export const userOf = (u: number) => `acct:model-${u}`;
const identityOf = (m: Model, u: number) => (m.shared ? `net:model-${u >> 1}` : userOf(u));
let keyN = 0;

/** A fresh sale with its own object, and the model of it. */
export async function setUp(p: {
  stock: number;
  policy: Model["policy"];
  limit: number;
  shared: boolean;
}): Promise<{ model: Model; real: Real }> {
  const cfg = SaleInput.parse(saleConfig({ stock_total: p.stock, release_policy: p.policy, per_user_limit: p.limit, hold_ttl_s: 3600 }));
  const stub = () => inventory(env, cfg.id);
  const r = await stub().configure(cfg);
  if (!r.ok) throw new Error(`configure: ${JSON.stringify(r)}`);
  return {
    model: {
      policy: p.policy,
      limit: p.limit,
      shared: p.shared,
      stock_total: p.stock,
      available: p.stock,
      held: 0,
      sold: 0,
      withdrawn: 0,
      paused: false,
      holds: [],
      keys: Array.from({ length: USERS }, () => []),
      refunds: new Set(),
    },
    real: { sale: cfg.id, stub },
  };
}

// ---------------------------------------------------------------- the model's rules

const active = (h: MHold) => h.status === "held" || h.status === "pending";
function end(m: Model, h: MHold, status: "expired" | "cancelled" | "declined") {
  h.status = status;
  m.held -= h.qty;
  if (m.policy === "undersell") m.withdrawn += h.qty;
  else m.available += h.qty;
}
function confirm(m: Model, h: MHold) {
  h.status = "confirmed";
  m.held -= h.qty;
  m.sold += h.qty;
}
const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
const unwrap = <T>(r: Result<T>, what: string): T => {
  if (!r.ok) throw new Error(`${what}: refused ${r.error}: ${r.message}`);
  return r.value;
};

// ---------------------------------------------------------------- time, moved by hand

/**
 * The object's clock moved forward for some holds: their timers are set in the past in storage
 * and the alarm is run, as the runtime would once that time had come (a test-only hook in place
 * of an injectable clock: the object reads Date.now() throughout).
 */
async function timeTravel(real: Real, move: string, left: string) {
  const count = () => runInDurableObject(real.stub(), (_i, state) => state.storage.sql.exec<{ n: number }>(left, Date.now()).one().n);
  await runInDurableObject(real.stub(), async (_i, state) => {
    state.storage.sql.exec(move, Date.now() - 1);
    await state.storage.setAlarm(Date.now());
  });
  // The runtime may be running that alarm itself right now: wait for the fact, not for one run.
  for (let i = 0; (await count()) > 0; i++) {
    if (i > 50) throw new Error(`the alarm did not do its work: ${left}`);
    if (!(await runDurableObjectAlarm(real.stub()))) await new Promise((r) => setTimeout(r, 5));
  }
}

/** A payment whose outcome is unknown is left alone until a command moves its clock (PAY_GIVE_UP_S is 1 s here). */
const parkPayment = (real: Real, id: string) =>
  runInDurableObject(
    real.stub(),
    (_i, state) =>
      void state.storage.sql.exec(
        "UPDATE holds SET pay_next_at = ?1, pay_deadline = ?1 WHERE id = ?2 AND status = 'pending'",
        Date.now() + HOUR,
        id,
      ),
  );

// ---------------------------------------------------------------- commands

type Cmd = fc.AsyncCommand<Model, Real>;

class Claim implements Cmd {
  constructor(
    readonly user: number,
    readonly reuse: number | null,
    readonly qty: number,
  ) {}
  check = () => true;
  async run(m: Model, real: Real) {
    const tried = m.keys[this.user]!;
    const key = (this.reuse !== null && pick(tried, this.reuse)) || `k${keyN++}`;
    if (!tried.includes(key)) tried.push(key);
    const user = userOf(this.user);
    const r = await real.stub().claim({ user, identity: identityOf(m, this.user), qty: this.qty, key });
    const same = m.holds.find((h) => h.user === this.user && h.key === key);
    const mine = m.holds.filter((h) => identityOf(m, h.user) === identityOf(m, this.user) && (active(h) || h.status === "confirmed"));
    const used = mine.reduce((n, h) => n + h.qty, 0);
    const own = mine.filter((h) => active(h) && h.user === this.user).map((h) => h.id);
    if (same) return void expect(r).toMatchObject({ ok: true, value: { kind: "hold", created: false, hold: { id: same.id } } });
    if (m.paused) return void expect(r).toMatchObject({ ok: false, error: "not_open" });
    if (used + this.qty > m.limit) {
      if (own.length === 0) return void expect(r).toMatchObject({ ok: false, error: "limit_reached" });
      const v = unwrap(r, "claim over the limit");
      expect(v.kind === "hold" && !v.created && own.includes(v.hold.id), `the shopper's own active hold, one of ${own}`).toBe(true);
      return;
    }
    if (m.available < this.qty) return void expect(r).toMatchObject({ ok: false, error: "sold_out" });
    const v = unwrap(r, "claim");
    if (v.kind !== "hold" || !v.created) throw new Error(`expected a new hold, got ${JSON.stringify(v)}`);
    expect(v.hold).toMatchObject({ status: "held", qty: this.qty });
    m.holds.push({ id: v.hold.id, user: this.user, key, qty: this.qty, status: "held", late: "none" });
    m.available -= this.qty;
    m.held += this.qty;
  }
  toString = () => `claim(u${this.user}, ${this.reuse === null ? "new key" : `key#${this.reuse}`}, qty ${this.qty})`;
}

class Pay implements Cmd {
  constructor(
    readonly hold: number,
    readonly card: keyof typeof CARD,
    readonly asOther: boolean,
  ) {}
  check = (m: Model) => m.holds.length > 0;
  async run(m: Model, real: Real) {
    const h = pick(m.holds, this.hold)!;
    const payer = this.asOther ? (h.user + 1) % USERS : h.user;
    const r = await real.stub().pay(h.id, userOf(payer), CARD[this.card]);
    if (this.asOther) return void expect(r).toMatchObject({ ok: false, error: "not_found" });
    if (h.status !== "held") return void expect(unwrap(r, "pay").hold).toMatchObject({ id: h.id, status: h.status });
    let v = unwrap(r, "pay").hold;
    if (this.card === "unknown") {
      // Pending, parked; or, on a machine so busy that the first answer came after PAY_GIVE_UP_S
      // (or the alarm's re-ask did before the parking), already given up. Either is legal.
      h.late = "unknown";
      if (v.status === "pending") {
        await parkPayment(real, h.id);
        v = unwrap(await real.stub().hold(h.id, userOf(h.user)), "hold");
      }
      if (v.status === "expired" && /unknown/.test(v.reason ?? "")) end(m, h, "expired");
      else h.status = "pending";
    } else {
      // A busy machine can make the client give up on a known card (PAY_TIMEOUT_MS): the answer
      // is then "pending", and the alarm settles it by the same key, or gives up after
      // PAY_GIVE_UP_S (1 s here) and releases the hold. Wait for the fact; either is legal.
      for (let i = 0; v.status === "pending"; i++) {
        if (i > 300) throw new Error(`hold ${h.id} stayed pending after a ${this.card} payment`);
        await runDurableObjectAlarm(real.stub());
        await new Promise((res) => setTimeout(res, 10));
        v = unwrap(await real.stub().hold(h.id, userOf(h.user)), "hold");
      }
      if (v.status === "expired" && /unknown/.test(v.reason ?? "")) end(m, h, "expired");
      else if (this.card === "ok") confirm(m, h);
      else end(m, h, "declined");
    }
    if (v.id !== h.id || v.status !== h.status) throw new Error(`pay: expected ${h.status}, got ${JSON.stringify(v)}`);
  }
  toString = () => `pay(hold#${this.hold}, ${this.card}${this.asOther ? ", by another shopper" : ""})`;
}

class Cancel implements Cmd {
  constructor(
    readonly hold: number,
    readonly asOther: boolean,
  ) {}
  check = (m: Model) => m.holds.length > 0;
  async run(m: Model, real: Real) {
    const h = pick(m.holds, this.hold)!;
    const r = await real.stub().cancel(h.id, userOf(this.asOther ? (h.user + 1) % USERS : h.user));
    if (this.asOther) return void expect(r).toMatchObject({ ok: false, error: "not_found" });
    if (h.status === "pending") return void expect(r).toMatchObject({ ok: false, error: "payment_in_progress" });
    if (h.status === "confirmed") return void expect(r).toMatchObject({ ok: false, error: "conflict" });
    if (h.status === "held") end(m, h, "cancelled");
    expect(unwrap(r, "cancel")).toMatchObject({ id: h.id, status: h.status });
  }
  toString = () => `cancel(hold#${this.hold}${this.asOther ? ", by another shopper" : ""})`;
}

/** Every held hold's window passes; the alarm expires them. */
class Expire implements Cmd {
  check = () => true;
  async run(m: Model, real: Real) {
    await timeTravel(
      real,
      "UPDATE holds SET expires_at = ? WHERE status = 'held'",
      "SELECT COUNT(*) AS n FROM holds WHERE status = 'held' AND expires_at <= ?",
    );
    for (const h of m.holds) if (h.status === "held") end(m, h, "expired");
  }
  toString = () => "expire(the clock passes every payment window)";
}

/** The give-up time of every unknown payment passes; the alarm asks once more and releases them. */
class GiveUp implements Cmd {
  check = () => true;
  async run(m: Model, real: Real) {
    await timeTravel(
      real,
      "UPDATE holds SET pay_next_at = ?1, pay_deadline = ?1 WHERE status = 'pending'",
      "SELECT COUNT(*) AS n FROM holds WHERE status = 'pending' AND pay_deadline <= ?",
    );
    for (const h of m.holds) if (h.status === "pending") end(m, h, "expired");
    // The released holds are watched for a late charge a minute later: out of this sequence's time.
  }
  toString = () => "give_up(the clock passes every unknown payment's deadline)";
}

/** The money of an unknown payment lands late, and the provider says so (a webhook, an alarm's re-ask). */
class LateSuccess implements Cmd {
  constructor(
    readonly hold: number,
    readonly again: boolean,
  ) {}
  check = (m: Model) => m.holds.some((h) => h.late !== "none");
  async run(m: Model, real: Real) {
    const h = pick(
      m.holds.filter((x) => x.late !== "none"),
      this.hold,
    )!;
    const charge = `ch_late_${h.id}`;
    if (h.late === "unknown") {
      await runInDurableObject(
        gatewaySim(env),
        (_i, state) =>
          void state.storage.sql.exec(
            `INSERT INTO charges (key, reference, amount, currency, method, status, final, charge_id, reason, calls, created_at, lands_at)
         VALUES (?, ?, 0, 'EUR', 'tok_error', 'succeeded', 'succeeded', ?, NULL, 1, ?, ?)`,
            `pay_${h.id}`,
            h.id,
            charge,
            Date.now(),
            Date.now(),
          ),
      );
      h.late = "landed";
      if (h.status === "pending") confirm(m, h);
      else m.refunds.add(charge);
    }
    // Delivered once, or twice under two event ids (a webhook and a re-ask both bring it: the
    // second must change nothing), through the one door every outcome takes.
    for (let i = 0; i < (this.again ? 2 : 1); i++) {
      const outcome = { status: "succeeded" as const, charge_id: charge };
      unwrap(
        await real.stub().providerEvent({ id: `evt_model_${h.id}_${i}`, type: "charge.succeeded", hold: h.id, kind: "outcome", outcome }),
        "providerEvent",
      );
    }
  }
  toString = () => `late_success(unknown payment#${this.hold}${this.again ? ", delivered twice" : ""})`;
}

class Restock implements Cmd {
  constructor(readonly qty: number) {}
  check = () => true;
  async run(m: Model, real: Real) {
    unwrap(await real.stub().restock(this.qty), "restock");
    m.stock_total += this.qty;
    m.available += this.qty;
  }
  toString = () => `restock(${this.qty})`;
}

class Pause implements Cmd {
  constructor(readonly paused: boolean) {}
  check = () => true;
  async run(m: Model, real: Real) {
    unwrap(await real.stub().setState(this.paused ? "paused" : "live"), "setState");
    m.paused = this.paused;
  }
  toString = () => (this.paused ? "pause" : "resume");
}

/** The object is thrown away (all in-memory state gone); the next call builds a new one. */
class Restart implements Cmd {
  check = () => true;
  async run(_m: Model, real: Real) {
    await runInDurableObject(real.stub(), (_i, state) => state.abort("model restart")).catch(() => {});
  }
  toString = () => "restart";
}

class Flush implements Cmd {
  check = () => true;
  run = (m: Model, real: Real) => expectD1(m, real);
  toString = () => "flush(the alarm sends the outbox; D1 must match)";
}

/** A command, then the object's books against the model's (every step is checked). */
const checked =
  <A extends unknown[]>(make: (...a: A) => Cmd) =>
  (a: A): Cmd => {
    const c = make(...a);
    return {
      check: (m) => c.check(m),
      run: async (m, r) => {
        await c.run(m, r);
        await expectSame(m, r);
      },
      toString: () => c.toString(),
    };
  };

export const commands = fc.commands(
  [
    ...Array.from({ length: 4 }, () =>
      fc
        .tuple(fc.nat(USERS - 1), fc.option(fc.nat(3), { freq: 3 }), fc.integer({ min: 1, max: 2 }))
        .map(checked((u, k, q) => new Claim(u, k, q))),
    ),
    ...Array.from({ length: 3 }, () =>
      fc
        .tuple(fc.nat(7), fc.constantFrom<keyof typeof CARD>("ok", "decline", "unknown", "unknown"), fc.boolean())
        .map(checked((h, c, o) => new Pay(h, c, o && c === "ok"))),
    ),
    fc.tuple(fc.nat(7), fc.boolean()).map(checked((h, o) => new Cancel(h, o))),
    fc.constant([] as []).map(checked(() => new Expire())),
    fc.constant([] as []).map(checked(() => new GiveUp())),
    ...Array.from({ length: 2 }, () => fc.tuple(fc.nat(3), fc.boolean()).map(checked((h, a) => new LateSuccess(h, a)))),
    fc.tuple(fc.integer({ min: 1, max: 3 })).map(checked((n) => new Restock(n))),
    fc.tuple(fc.boolean()).map(checked((p) => new Pause(p))),
    fc.constant([] as []).map(checked(() => new Restart())),
    fc.constant([] as []).map(checked(() => new Flush())),
  ],
  { maxCommands: 14, replayPath: (env as unknown as { FC_REPLAY_PATH?: string }).FC_REPLAY_PATH || undefined },
);

// ---------------------------------------------------------------- checks

/** The object's own books against the model's: counters, every hold's state, the refunds owed. */
export async function expectSame(m: Model, real: Real) {
  const seen = await runInDurableObject(real.stub(), (_i, state) => {
    const sql = state.storage.sql;
    return {
      row: sql.exec<Record<string, number>>("SELECT stock_total, available, held, sold, withdrawn FROM sale").one(),
      holds: sql.exec<{ id: string; status: string; qty: number }>("SELECT id, status, qty FROM holds ORDER BY id").toArray(),
      refunds: sql
        .exec<{ charge_id: string }>("SELECT charge_id FROM refunds")
        .toArray()
        .map((r) => r.charge_id)
        .sort(),
    };
  });
  const { stock_total, available, held, sold, withdrawn } = m;
  expect(seen.row, "the counters").toEqual({ stock_total, available, held, sold, withdrawn });
  expect(available + held + sold + withdrawn).toBe(stock_total);
  const want = m.holds.map((h) => ({ id: h.id, status: h.status, qty: h.qty })).sort((a, b) => (a.id < b.id ? -1 : 1));
  expect(seen.holds, "the ledger's holds").toEqual(want);
  const units = (st: string[]) => seen.holds.filter((h) => st.includes(h.status)).reduce((n, h) => n + h.qty, 0);
  expect(units(["held", "pending"]), "held units in the ledger").toBe(seen.row.held);
  expect(units(["confirmed"]), "sold units in the ledger").toBe(seen.row.sold);
  expect(seen.refunds, "refunds owed").toEqual([...m.refunds].sort());
}

/** Runs the alarm until the outbox is empty and no refund waits, then D1 holds exactly the paid orders and done refunds. */
export async function expectD1(m: Model, real: Real) {
  // Tries, and real time: on a busy machine a refund can outlast the tests' 250 ms payment timeout
  // more than once (each try is then an unknown outcome, asked again).
  const deadline = Date.now() + 20_000;
  for (let i = 0; ; i++) {
    // A refund the simulated provider was slow to answer waits out its backoff: the time moves on
    // for this object's refunds alone (the clock is shared by the lanes running beside this one).
    if (i > 0)
      await runInDurableObject(
        real.stub(),
        (_i, state) => void state.storage.sql.exec("UPDATE refunds SET next_at = 0 WHERE status = 'pending'"),
      );
    await runDurableObjectAlarm(real.stub());
    const s = await real.stub().stats();
    if (s.outbox.backlog === 0 && s.refunds.pending === 0) break;
    if (i > 20 && Date.now() > deadline)
      throw new Error(`the outbox did not drain: ${JSON.stringify({ outbox: s.outbox, refunds: s.refunds })}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const [orders, refunds] = await env.DB.batch<{ hold_id: string; qty: number; charge_id: string }>([
    env.DB.prepare("SELECT hold_id, qty, charge_id FROM orders WHERE sale_id = ? ORDER BY hold_id").bind(real.sale),
    env.DB.prepare("SELECT hold_id, 0 AS qty, charge_id FROM refunds WHERE sale_id = ? ORDER BY charge_id").bind(real.sale),
  ]);
  const paid = m.holds.filter((h) => h.status === "confirmed").sort((a, b) => (a.id < b.id ? -1 : 1));
  expect(
    orders!.results.map((o) => [o.hold_id, o.qty]),
    "D1's orders",
  ).toEqual(paid.map((h) => [h.id, h.qty]));
  for (const o of orders!.results) expect(o.charge_id.length).toBeGreaterThan(0);
  expect(
    refunds!.results.map((r) => r.charge_id),
    "D1's refunds",
  ).toEqual([...m.refunds].sort());
}
