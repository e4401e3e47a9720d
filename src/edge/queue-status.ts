import type { Watermark } from "../../domain/schemas/room";

/**
 * A shopper's place in line as the edge reports it, from their rank (in the signed ticket) and
 * the cached watermark. Field names overlap Cloudflare Waiting Room's JSON where they mean the
 * same thing (`inWaitingRoom`, `waitTimeKnown`, `waitTime` in minutes, `refreshIntervalSeconds`).
 */
export type QueueStatus = {
  state: "waiting" | "admitted";
  position: number | null;
  eta_s: number | null;
  refresh_s: number;
  opens_in_s: number | null;
  inWaitingRoom: boolean;
  waitTimeKnown: boolean;
  waitTime: number;
  refreshIntervalSeconds: number;
};

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

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
