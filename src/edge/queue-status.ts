import { admittedAt, aheadOf, comparePlaces, type Place } from "../../domain/line";
import { isoAt } from "../../domain/clock";
import type { QueueStatus, Watermark } from "../../domain/schemas/room";

export type { QueueStatus };

/** Where a ticket stands, and until when its holder may claim (when admitted). */
export type Standing = { status: QueueStatus; admittedAt: number | null; passUntil: number | null };

/** A sold-out line is asked again this often: only a restock can move it. */
const SOLD_OUT_REFRESH_S = 30;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const iso = (ms: number | null) => (ms === null ? null : isoAt(ms));

type LateEntry = { b: number; position: number | null; at: number | null };
/** The watermark's late places by key, built once per cached watermark (polls read it many times). */
const lateByKey = new WeakMap<Watermark, Map<number, LateEntry>>();

/** The late entry that governs `place` (its identity's, for this place or a later one of it). */
function lateEntry(w: Watermark, place: Place): LateEntry | undefined {
  if (!w.late) return undefined;
  let byKey = lateByKey.get(w);
  if (!byKey) {
    byKey = new Map();
    for (const [i, { b, k }] of w.late.held.entries()) byKey.set(k, { b, position: i + 1, at: null });
    for (const { b, k, at } of w.late.admitted) byKey.set(k, { b, position: null, at });
    lateByKey.set(w, byKey);
  }
  const e = byKey.get(place.k);
  return e && place.b >= e.b ? e : undefined;
}

/**
 * A shopper's place in line as the edge reports it, from their ticket (place, and the time they
 * were admitted once known) and the cached watermark: no object hop.
 *  - admitted: the watermark has passed the place, and its pass lifetime (`pass_ttl_s`) since
 *    then has not run out: a pass can be issued, valid until exactly then;
 *  - expired: admitted, but that time is over: no pass is ever issued for this ticket again, the
 *    shopper queues again at the back (that is what bounds max_active);
 *  - waiting: position and ETA from the counts ahead of the place; a pre-queue place (bucket 0)
 *    has none until the draw (`draw_at`: the opening plus the sale's lottery window), after which
 *    the pre-queue is served in key order;
 *  - sold_out: waiting, but the room says no unit can come back: told at once rather than left to
 *    wait; the place is kept, so a restock admits it again.
 * A late place (reported after the watermark passed it: `w.late`) waits for a unit although the
 * watermark has passed it, first among those waiting; once admitted, its time is the room's for
 * it, not the watermark's (nor the ticket's). `unreported`: this isolate has not yet handed the
 * place to the room (or has no answer yet), so the room cannot have admitted it: it waits too.
 */
export function standingOf(place: Place, adm: number | undefined, w: Watermark, now: number, unreported = false): Standing {
  const passMs = w.pass_ttl_s * 1000;
  const under = w.upto !== null && comparePlaces(place, w.upto) <= 0;
  const late = under ? lateEntry(w, place) : undefined;
  // Held back: under the watermark, but waiting for a unit.
  const held = (late !== undefined && late.at === null) || (under && !late && unreported && adm === undefined);
  const passed = under && !held;
  // Passed, but before any mark the room still keeps: long ago, over.
  const at = held ? null : (late?.at ?? adm ?? (passed ? (admittedAt(w.marks, place) ?? 0) : null));
  const drawing = place.b === 0 && w.sealed < 0;
  const common = {
    place: { bucket: place.b, key: place.k },
    admitted_at: iso(at || null),
    unit_kept_until: null,
    draw_at: drawing ? iso(w.draw_at) : null,
  };
  // Tokens expire on whole seconds: the time to claim ends at the last one before it runs out.
  const until = at === null ? null : Math.floor((at + passMs) / 1000) * 1000;
  if (until !== null && now < until) {
    return {
      status: {
        state: "admitted",
        position: 0,
        eta_s: 0,
        refresh_s: 0,
        opens_in_s: null,
        inWaitingRoom: false,
        waitTimeKnown: true,
        waitTime: 0,
        refreshIntervalSeconds: 0,
        ...common,
        unit_kept_until: w.keeps_units ? iso(until) : null,
      },
      admittedAt: at,
      passUntil: until,
    };
  }
  if (at !== null || passed) {
    return {
      status: {
        state: "expired",
        position: null,
        eta_s: null,
        refresh_s: 0,
        opens_in_s: null,
        inWaitingRoom: false,
        waitTimeKnown: false,
        waitTime: 0,
        refreshIntervalSeconds: 0,
        ...common,
      },
      admittedAt: at,
      passUntil: null,
    };
  }
  if (w.sold_out && !drawing) {
    return {
      status: {
        state: "sold_out",
        position: null,
        eta_s: null,
        refresh_s: SOLD_OUT_REFRESH_S,
        opens_in_s: null,
        inWaitingRoom: true,
        waitTimeKnown: false,
        waitTime: 0,
        refreshIntervalSeconds: SOLD_OUT_REFRESH_S,
        ...common,
      },
      admittedAt: null,
      passUntil: null,
    };
  }
  let position: number | null = null;
  let eta: number | null = null;
  let refresh: number;
  let opensIn: number | null = null;
  if (drawing) {
    // The pre-queue: places are drawn (served in key order) once the lottery window has closed.
    opensIn = Math.max(0, Math.ceil((w.starts_at - now) / 1000));
    refresh = clamp(Math.ceil(Math.max(0, w.draw_at - now) / 4000), 1, 30);
  } else {
    position = held ? (late?.position ?? 1) : aheadOf(place, w.upto, w.waiting) + 1;
    eta = w.rate > 0 ? Math.ceil(position / w.rate) : null;
    refresh = clamp(Math.ceil((eta ?? 30) / 4), 1, 15);
  }
  return {
    status: {
      state: "waiting",
      position,
      eta_s: eta,
      refresh_s: refresh,
      opens_in_s: opensIn,
      inWaitingRoom: true,
      waitTimeKnown: eta !== null,
      waitTime: eta === null ? 0 : Math.ceil(eta / 60),
      refreshIntervalSeconds: refresh,
      ...common,
    },
    admittedAt: null,
    passUntil: null,
  };
}
