/**
 * What this isolate keeps between requests is owned by the module that uses it (the catalogue's
 * copy by edge/catalog.ts, the answers by edge/cache.ts, verified tokens by lib/tokens.ts, …), each
 * store bounded. None of it is a source of truth: an isolate that is evicted, or a new one that
 * takes its traffic, starts empty and answers the same, at the cost of a few more object calls.
 * A module whose memory may be dropped registers how to drop it here, so one call forgets it all
 * (test/isolate.test.ts does so mid-sale).
 *
 * This is the bottom of src/: lib/ and edge/ both register, and it imports nothing.
 */
const resets = new Map<string, () => void>();

/** Registers how to drop a module's cached answers and verdicts (a name once: a reload replaces it). */
export function register(name: string, reset: () => void): void {
  resets.set(name, reset);
}

/** Drops every registered cache (what is not registered, such as counters still to hand over, is kept). */
export function forgetEverything(): void {
  for (const reset of resets.values()) reset();
}
