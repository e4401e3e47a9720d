import { register } from "../lib/isolate-state";
import { LruMap } from "../lib/lru";

/** How long a session or place taken from a network weighs on it. */
const WINDOW_MS = 10 * 60_000;
/** At most this many bits on top of the sale's: 256 times the work. */
const MAX_EXTRA_BITS = 8;
/** Sessions and places taken per network lately, as this isolate saw them. */
const networks = new LruMap<string, { n: number; since: number }>(100_000);
register("pressure", () => networks.clear());

/**
 * The proof of work costs more from a network that has lately made many sessions or taken many
 * places (as this isolate saw them): one extra bit for each doubling, so a network that mints a
 * thousand sessions pays about a thousand times the work for each, while a home with a few
 * shoppers barely notices. Counted per isolate (no object is asked): a brake, not a ledger.
 */
export function notePressure(net: string, now = Date.now()): void {
  const seen = networks.get(net);
  if (!seen || now - seen.since > WINDOW_MS) networks.set(net, { n: 1, since: now });
  else seen.n++;
}

export function extraBits(net: string, now = Date.now()): number {
  const seen = networks.get(net);
  if (!seen || now - seen.since > WINDOW_MS) return 0;
  return Math.min(MAX_EXTRA_BITS, Math.floor(Math.log2(1 + seen.n)));
}
