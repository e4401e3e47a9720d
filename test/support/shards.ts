import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inventoryShard } from "../../domain/objects";
import { homeShard } from "../../domain/shards";
import type { ProductInventory, TransferFault } from "../../durable-objects/inventory/product-inventory";
import { forgetSale } from "../../src/edge/sale-info";
import { signToken } from "../../src/lib/tokens";
import { advanceClockTo } from "./clock";
import { newAccount } from "./identity";
import { sleep } from "./worker";

/** Shard `i` of a sharded sale (0 is the object named by the sale id). */
export const shard = (sale: string, i: number) => inventoryShard(env, sale, i);

/**
 * An account shopper with a session and a pass for `sale`, signed by the Worker's own signing
 * module (src/lib/tokens.ts) as the session route and the waiting room would: for tests whose
 * subject is the claims of thousands of shoppers, not how they got in (test/admission.test.ts
 * and test/identity.test.ts are about that). `home` asks for a shopper whose home shard it is.
 */
export async function signedShopper(sale: string, opts: { home?: { shard: number; of: number } } = {}) {
  let account = newAccount();
  while (opts.home && homeShard(`acct:${account}`, opts.home.of) !== opts.home.shard) account = newAccount();
  const user = `acct:${account}`;
  const [session, pass] = await Promise.all([
    signToken(env, "session", { sub: user, acct: account }),
    signToken(env, "pass", { sub: user, sale }),
  ]);
  return { user, token: session.token, pass: pass.token };
}

/** Each shard's stats, asked at once (each is one object's consistent snapshot; they are ms apart). */
export const shardStats = (sale: string, n: number) => Promise.all(Array.from({ length: n }, (_, i) => shard(sale, i).stats()));

/**
 * The sum identity of a sharded sale: Σ available + Σ held + Σ sold + Σ withdrawn + in transit,
 * with in transit = Σ given − Σ received (each summed from the shards' transfer rows), against
 * the units the sale was created with; and per shard, stock_total = base − given + received.
 */
export function sumIdentity(all: Awaited<ReturnType<typeof shardStats>>) {
  let units = 0;
  let inTransit = 0;
  const unbalanced: number[] = [];
  for (const s of all) {
    const st = s.stock!;
    const f = s.shard!;
    units += st.available + st.held + st.sold + st.withdrawn;
    inTransit += f.given - f.received;
    if (st.stock_total !== f.base - f.given + f.received || st.available + st.held + st.sold + st.withdrawn !== st.stock_total)
      unbalanced.push(f.shard);
  }
  return { total: units + inTransit, units, inTransit, unbalanced };
}

/** Sets a one-shot crash point in a shard (on the instance: tests only). */
export const crashAt = (sale: string, i: number, fault: TransferFault) =>
  runInDurableObject(shard(sale, i), (inst: ProductInventory) => {
    inst.testFaults.transfer = fault;
  });

/** Moves the clock to the earliest alarm of these shards (their retries are due a second or more after the ask). */
async function toEarliestAlarm(sale: string, shards: number[]) {
  const at = (await Promise.all(shards.map((i) => shard(sale, i).stats()))).map((s) => (s.alarm_at ? Date.parse(s.alarm_at) : Infinity));
  const first = Math.min(...at);
  if (first < Infinity) advanceClockTo(first);
}

/** Runs a shard's alarm, the clock moved to its time, until `done()` holds. */
export async function alarmsUntil(sale: string, i: number, done: () => Promise<boolean>, ms = 8000) {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await toEarliestAlarm(sale, [i]);
    await runDurableObjectAlarm(shard(sale, i));
    forgetSale(sale);
    await sleep(50);
  }
}

/**
 * Runs every shard's alarm, the clock moved to the earliest, until `done()` holds (expiries,
 * payment re-asks and flushes are all alarm steps).
 */
export async function everyAlarmUntil(sale: string, n: number, done: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await toEarliestAlarm(
      sale,
      Array.from({ length: n }, (_, i) => i),
    );
    await Promise.all(Array.from({ length: n }, (_, i) => runDurableObjectAlarm(shard(sale, i))));
    forgetSale(sale);
    await sleep(50);
  }
}
