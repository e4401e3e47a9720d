import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { settings } from "../config";
import { log } from "../lib/log";
import { room } from "../lib/objects";
import type { Counter, Counts } from "../schemas/room";

/**
 * Edge counters (rejections, fast-path answers) for the operator's stats. Counting each one in
 * the waiting room would send every rejected request to an object, which is the load the edge
 * exists to absorb; so the isolate adds them up and hands them over at most once per
 * COUNTER_FLUSH_MS, after the response (waitUntil). An isolate that dies loses at most that
 * window's counts: these are operational figures, not the ledger.
 */
const pending = new Map<string, Counts>();
let lastFlush = 0;

export function countEdge(c: Context<AppEnv>, sale: string, counter: Counter): void {
  const counts = pending.get(sale) ?? {};
  counts[counter] = (counts[counter] ?? 0) + 1;
  pending.set(sale, counts);
  const now = Date.now();
  if (now - lastFlush < settings(c.env).COUNTER_FLUSH_MS) return;
  lastFlush = now;
  const batch = [...pending];
  pending.clear();
  c.executionCtx.waitUntil(
    Promise.all(batch.map(([id, deltas]) => room(c.env, id).count(deltas))).catch((e) => log("warn", "counters_lost", { error: String(e) })),
  );
}
