import type { QueueStatus, Watermark } from "../../domain/schemas/room";

export type { QueueStatus };

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** A shopper's place in line, from their rank (in the signed ticket) and the cached watermark. */
export function queueStatus(rank: number | undefined, w: Watermark, now: number): QueueStatus {
  if (rank !== undefined && rank <= w.upto) {
    return { state: "admitted", position: 0, eta_s: 0, refresh_s: 0, opens_in_s: null, inWaitingRoom: false, waitTimeKnown: true, waitTime: 0, refreshIntervalSeconds: 0 };
  }
  let position: number | null = null;
  let eta: number | null = null;
  let refresh: number;
  let opensIn: number | null = null;
  if (rank === undefined) {
    // Pre-queue: the place is drawn when the sale opens.
    opensIn = Math.max(0, Math.ceil((w.starts_at - now) / 1000));
    refresh = clamp(Math.ceil(opensIn / 4), 1, 30);
  } else {
    position = rank - w.upto;
    eta = w.rate > 0 ? Math.ceil(position / w.rate) : null;
    refresh = clamp(Math.ceil((eta ?? 30) / 4), 1, 15);
  }
  return {
    state: "waiting",
    position,
    eta_s: eta,
    refresh_s: refresh,
    opens_in_s: opensIn,
    inWaitingRoom: true,
    waitTimeKnown: eta !== null,
    waitTime: eta === null ? 0 : Math.ceil(eta / 60),
    refreshIntervalSeconds: refresh,
  };
}
