import { settings } from "../../domain/config";
import type { Place } from "../../domain/line";
import { log } from "../../domain/log";
import { room } from "../../domain/objects";
import type { Counter, Counts } from "../../domain/schemas/room";
import { listed } from "./catalog";
import { rememberWatermark } from "./sale-info";
import { now as clockNow } from "../../domain/clock";

/**
 * What the edge hands to the waiting rooms, in batches: the places it gave out (arrivals) and its
 * counters (rejections, fast-path answers). Sending each one would make every join and every
 * rejected request an object call, which is the load the edge exists to absorb; so the isolate
 * gathers them and hands them over at most once per COUNTER_FLUSH_MS per sale, after the response
 * (waitUntil): the room sees O(isolates × seconds) calls, whatever the crowd.
 *
 * An isolate that dies before it reports loses that window's counts (operational figures, not the
 * ledger) and its arrivals: those shoppers keep their tickets and are admitted when the watermark
 * passes their place, without having been counted (docs/ARCHITECTURE.md gives the bound).
 */
/** What reporting needs of a request: a Hono context, or the Worker's own (env, ctx). */
/** What a report needs of a request's context (Hono's own `ExecutionContext` type is narrower than the runtime's). */
export type EdgeCtx = { env: Env; executionCtx: Pick<ExecutionContext, "waitUntil"> };

/**
 * Reports not yet handed to the waiting rooms: per sale, the counters and the places given out;
 * emptied every COUNTER_FLUSH_MS, so bounded by what arrives in that time. Not registered for
 * reset: they are owed to the rooms, not a cache.
 */
const state = { pending: new Map<string, { counts: Counts; arrivals: Map<string, Place> }>(), lastFlush: 0, tailScheduled: false };
/**
 * Places given out here whose report the room has not answered yet. Until it has, the room
 * cannot have admitted them, even if the watermark this isolate caches has passed them (a late
 * report: the room holds such a place back for a unit), so they are answered `waiting`.
 */
const unanswered = new Set<string>();
const placeId = (sale: string, { b, k }: Place) => `${sale}:${b}:${k}`;

/** Whether this isolate gave out `place` and the room has not yet answered its report. */
// (Empty between joins: a poll then builds no key.)
export const unreported = (sale: string, place: Place): boolean => unanswered.size > 0 && unanswered.has(placeId(sale, place));

export function countEdge(c: EdgeCtx, sale: string, counter: Counter): void {
  const r = pendingFor(sale);
  r.counts[counter] = (r.counts[counter] ?? 0) + 1;
  schedule(c);
}

/**
 * A place this isolate gave out (POST /queue), for the room's count of the line. A place given
 * out again before the batch leaves (a shopper who queues again, a replayed challenge) is in it
 * once: the room counts a place once anyway.
 */
export function reportArrival(c: EdgeCtx, sale: string, place: Place): void {
  const id = placeId(sale, place);
  pendingFor(sale).arrivals.set(id, place);
  unanswered.add(id);
  schedule(c);
}

function pendingFor(sale: string) {
  let r = state.pending.get(sale);
  if (!r) state.pending.set(sale, (r = { counts: {}, arrivals: new Map() }));
  return r;
}

function schedule(c: EdgeCtx): void {
  const now = clockNow();
  const every = settings(c.env).COUNTER_FLUSH_MS;
  if (now - state.lastFlush >= every) {
    c.executionCtx.waitUntil(flush(c.env));
  } else if (!state.tailScheduled) {
    // Held-back reports must not wait for a later request that may never come (the end of a
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
  state.lastFlush = clockNow();
  // Only for sales that exist: a refusal counted for a junk id must not create its room.
  const batch = [...state.pending].filter(([id]) => listed(id));
  for (const [id, { arrivals }] of state.pending) if (!listed(id)) for (const p of arrivals.keys()) unanswered.delete(p);
  state.pending.clear();
  return Promise.all(
    batch.map(async ([id, { counts, arrivals }]) => {
      try {
        // The room answers with its watermark: this isolate learns at once.
        rememberWatermark(env, id, await room(env, id).report([...arrivals.values()], counts));
      } catch (e) {
        log("warn", "report_lost", { sale: id, arrivals: arrivals.size, error: String(e) });
      } finally {
        for (const p of arrivals.keys()) unanswered.delete(p);
      }
    }),
  );
}
