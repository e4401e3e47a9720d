import { admittedAt, aheadOf, comparePlaces, type Place } from "../../domain/line";
import type { QueueStatus, Watermark } from "../../domain/schemas/room";

export type { QueueStatus };

/** Where a ticket stands, and until when its holder may claim (when admitted). */
export type Standing = { status: QueueStatus; admittedAt: number | null; passUntil: number | null };

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * A shopper's place in line as the edge reports it, from their ticket (place, and the time they
 * were admitted once known) and the cached watermark: no object hop.
 *  - admitted: the watermark has passed the place, and its pass lifetime (`pass_ttl_s`) since
 *    then has not run out: a pass can be issued, valid until exactly then;
 *  - expired: admitted, but that time is over: no pass is ever issued for this ticket again, the
 *    shopper queues again at the back (that is what bounds max_active);
 *  - waiting: position and ETA from the counts ahead of the place; a pre-queue place (bucket 0)
 *    has none until the draw, which is the pre-queue being served in key order after the opening.
 */
export function standingOf(place: Place, adm: number | undefined, w: Watermark, now: number): Standing {
  const passMs = w.pass_ttl_s * 1000;
  const passed = w.upto !== null && comparePlaces(place, w.upto) <= 0;
  // Passed, but before any mark the room still keeps: long ago, over.
  const at = adm ?? (passed ? (admittedAt(w.marks, place) ?? 0) : null);
  const common = { place: { bucket: place.b, key: place.k }, admitted_at: iso(at || null) };
  // Tokens expire on whole seconds: the time to claim ends at the last one before it runs out.
  const until = at === null ? null : Math.floor((at + passMs) / 1000) * 1000;
  if (until !== null && now < until) {
    return {
      status: { state: "admitted", position: 0, eta_s: 0, refresh_s: 0, opens_in_s: null, inWaitingRoom: false, waitTimeKnown: true, waitTime: 0, refreshIntervalSeconds: 0, ...common },
      admittedAt: at,
      passUntil: until,
    };
  }
  if (at !== null || passed) {
    return {
      status: { state: "expired", position: null, eta_s: null, refresh_s: 0, opens_in_s: null, inWaitingRoom: false, waitTimeKnown: false, waitTime: 0, refreshIntervalSeconds: 0, ...common },
      admittedAt: at,
      passUntil: null,
    };
  }
  let position: number | null = null;
  let eta: number | null = null;
  let refresh: number;
  let opensIn: number | null = null;
  if (place.b === 0 && w.sealed < 0) {
    // The pre-queue: places are drawn (served in key order) once the sale has opened.
    opensIn = Math.max(0, Math.ceil((w.starts_at - now) / 1000));
    refresh = clamp(Math.ceil(opensIn / 4), 1, 30);
  } else {
    position = aheadOf(place, w.upto, w.waiting) + 1;
    eta = w.rate > 0 ? Math.ceil(position / w.rate) : null;
    refresh = clamp(Math.ceil((eta ?? 30) / 4), 1, 15);
  }
  return {
    status: {
      state: "waiting", position, eta_s: eta, refresh_s: refresh, opens_in_s: opensIn, inWaitingRoom: true,
      waitTimeKnown: eta !== null, waitTime: eta === null ? 0 : Math.ceil(eta / 60), refreshIntervalSeconds: refresh, ...common,
    },
    admittedAt: null,
    passUntil: null,
  };
}
