import { isolate } from "./isolate";
import { now as clockNow } from "../../domain/clock";

/** How long a session or place taken from a network weighs on it. */
const WINDOW_MS = 10 * 60_000;
/** At most this many bits on top of the sale's: 256 times the work. */
const MAX_EXTRA_BITS = 8;

/**
 * The proof of work costs more from a network that has lately made many sessions or taken many
 * places (as this isolate saw them): one extra bit for each doubling, so a network that mints a
 * thousand sessions pays about a thousand times the work for each, while a home with a few
 * shoppers barely notices. Counted per isolate (no object is asked): a brake, not a ledger.
 */
export function notePressure(net: string, now = clockNow()): void {
  const seen = isolate.networks.get(net);
  if (!seen || now - seen.since > WINDOW_MS) isolate.networks.set(net, { n: 1, since: now });
  else seen.n++;
}

export function extraBits(net: string, now = clockNow()): number {
  const seen = isolate.networks.get(net);
  if (!seen || now - seen.since > WINDOW_MS) return 0;
  return Math.min(MAX_EXTRA_BITS, Math.floor(Math.log2(1 + seen.n)));
}
