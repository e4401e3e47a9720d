import type { Place } from "../../domain/line";
import type { createRemoteJWKSet } from "jose";
import type { Counts } from "../../domain/schemas/room";
import { LruMap } from "./lru";

/**
 * Everything this isolate keeps between requests, in one place. None of it is a source of truth:
 * an isolate that is evicted, or a new one that takes its traffic, starts empty and answers the
 * same, at the cost of a few more object calls (test/isolate.test.ts clears it mid-sale). Each
 * store is bounded, so a flood of odd requests cannot grow it.
 */

/** A cached answer: shared while it loads (single flight), reused until `until`. */
export type CacheEntry<T = unknown> = { value: Promise<T>; until: number; settled?: { v: T } };

export const isolate = {
  /**
   * The ids of the sales that exist (edge/catalog.ts): the whole catalogue, refreshed every
   * EDGE_CACHE_MS; and the stock shards of those that have more than one.
   */
  catalog: { ids: new Set<string>(), shards: new Map<string, number>(), until: 0, loading: undefined as Promise<void> | undefined },
  /** Sale info and watermarks of sales that exist, EDGE_CACHE_MS each (edge/cache.ts). */
  live: new LruMap<string, CacheEntry>(1_000),
  /**
   * Refusals (unknown sale ids), kept apart: a flood of junk ids only pushes out other junk ids,
   * never a live sale's cached and sold-out state.
   */
  refused: new LruMap<string, CacheEntry>(1_000),
  /** Loads in flight, one per key; bounded by the requests in flight. */
  loading: new Map<string, CacheEntry>(),
  /**
   * Reports not yet handed to the waiting rooms (edge/reports.ts): per sale, the counters and the
   * places given out; emptied every COUNTER_FLUSH_MS, so bounded by what arrives in that time.
   */
  reports: { pending: new Map<string, { counts: Counts; arrivals: Place[] }>(), lastFlush: 0, tailScheduled: false },
  /** Imported signing keys, per TOKEN_SECRET / TOKEN_SECRET_PREVIOUS pair seen (one or two). */
  keys: new Map<string, Promise<{ id: number; current: CryptoKey; previous?: CryptoKey }>>(),
  /** Tokens already verified, by their text, with the kind and key set they were verified as (lib/tokens.ts). */
  tokens: new LruMap<string, { claims: unknown; exp: number; kind: string; keys: number }>(50_000),
  /** Tokens this isolate signed, to re-serve while their claims are unchanged (lib/tokens.ts stableToken). */
  signed: new LruMap<string, { token: string; expiresAt: number }>(50_000),
  /** User-Agent verdicts (middleware/bot-check): the same few strings arrive again and again. */
  userAgents: new LruMap<string, boolean>(10_000),
  /**
   * Shoppers with a pass whom the object told "sold out" (so they hold nothing), per sale: their
   * retries are answered by the sold-out fast path while the sale stays sold out (edge/sold-out.ts).
   */
  soldOutTold: new LruMap<string, true>(50_000),
  /** Sessions and places taken per network lately (edge/pressure.ts: the proof of work's extra bits). */
  networks: new LruMap<string, { n: number; since: number }>(100_000),
  /** Networks shut out of the admin API after too many wrong tokens, until the time given. */
  adminLockouts: new LruMap<string, number>(10_000),
  /** Cloudflare Access key sets, per team (one, unless the settings change). */
  accessKeys: new Map<string, ReturnType<typeof createRemoteJWKSet>>(),
};

/** Drops every cached answer and verdict (counters still to be handed over are kept). */
export function forgetEverything(): void {
  isolate.catalog.ids = new Set();
  isolate.catalog.shards = new Map();
  isolate.catalog.until = 0;
  isolate.live.clear();
  isolate.refused.clear();
  isolate.loading.clear();
  isolate.tokens.clear();
  isolate.signed.clear();
  isolate.userAgents.clear();
  isolate.adminLockouts.clear();
  isolate.soldOutTold.clear();
  isolate.networks.clear();
}
