import { settings } from "../../domain/config";
import { log } from "../../domain/log";
import { room } from "../../domain/objects";
import type { Counter } from "../../domain/schemas/room";
import { isolate } from "./isolate";

/**
 * Edge counters (rejections, fast-path answers) for the operator's stats. Counting each one in
 * the waiting room would send every rejected request to an object, which is the load the edge
 * exists to absorb; so the isolate adds them up and hands them over at most once per
 * COUNTER_FLUSH_MS, after the response (waitUntil). An isolate that dies loses at most that
 * window's counts: these are operational figures, not the ledger.
 */
/** What counting needs of a request: a Hono context, or the Worker's own (env, ctx). */
export type EdgeCtx = { env: Env; executionCtx: ExecutionContext };

const state = isolate.counters;

export function countEdge(c: EdgeCtx, sale: string, counter: Counter): void {
  const counts = state.pending.get(sale) ?? {};
  counts[counter] = (counts[counter] ?? 0) + 1;
  state.pending.set(sale, counts);
  const now = Date.now();
  const every = settings(c.env).COUNTER_FLUSH_MS;
  if (now - state.lastFlush >= every) {
    c.executionCtx.waitUntil(flush(c.env));
  } else if (!state.tailScheduled) {
    // Held-back counts must not wait for a later request that may never come (the end of a
    // burst): one delayed flush at the end of the period hands them over.
    state.tailScheduled = true;
    c.executionCtx.waitUntil(
      new Promise((r) => setTimeout(r, state.lastFlush + every - now)).then(() => {
        state.tailScheduled = false;
        return flush(c.env);
      }),
    );
  }
}

function flush(env: Env): Promise<unknown> {
  state.lastFlush = Date.now();
  // Only for sales that exist: a refusal counted for a junk id must not create its room.
  const batch = [...state.pending].filter(([id]) => isolate.catalog.ids.has(id));
  state.pending.clear();
  return Promise.all(batch.map(([id, deltas]) => room(env, id).count(deltas))).catch((e) => log("warn", "counters_lost", { error: String(e) }));
}
