/**
 * Ids that say where they live: a hold or order id starts with the name of its product object
 * (the sale id, or `<sale>~<shard>` for a sharded sale's shard 1 and up: domain/shards.ts), so
 * the edge can route `/api/holds/:id` to the right object without a lookup. An order id reuses
 * its hold's random part, so a confirmed hold has exactly one possible order id (flushes can be
 * repeated).
 */
const SALE_ID_CHARS = "[a-z0-9][a-z0-9-]{0,62}";
/** A sale id: 1-63 lowercase letters, digits or dashes (it appears in URLs, object names and hold ids). */
export const SALE_ID = new RegExp(`^${SALE_ID_CHARS}$`);
// The shard is written one way only (1-63, no leading zero): no two ids name one hold.
const HOLD_OR_ORDER = new RegExp(`^(${SALE_ID_CHARS})(?:~([1-9][0-9]?))?_([ho])([0-9a-f]{20})$`);

export function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export const newUserId = () => `u${randomHex(10)}`;
let holdSeq = 0;
/**
 * Time-ordered, so a new hold lands at the right edge of the id index instead of on a random
 * page (under a spike each commit otherwise rewrites a page per claim): 11 hex digits of
 * milliseconds, 3 of a per-isolate counter (unique within a millisecond's batch), 6 random.
 */
export const newHoldId = (objectName: string, now: number) =>
  `${objectName}_h${now.toString(16).padStart(11, "0").slice(-11)}${(holdSeq++ & 0xfff).toString(16).padStart(3, "0")}${randomHex(3)}`;
export const orderIdOf = (holdId: string) => holdId.replace(/_h([0-9a-f]{20})$/, "_o$1");
export const holdIdOf = (orderId: string) => orderId.replace(/_o([0-9a-f]{20})$/, "_h$1");

/** The sale a hold or order id belongs to, or null if the id is not one of ours. */
export function saleOf(id: string, kind: "h" | "o"): string | null {
  return placeOf(id, kind)?.sale ?? null;
}

/** The sale and the shard (0 for an unsharded sale) a hold or order id lives in, or null. */
export function placeOf(id: string, kind: "h" | "o"): { sale: string; shard: number } | null {
  const m = HOLD_OR_ORDER.exec(id);
  return m && m[3] === kind ? { sale: m[1]!, shard: m[2] ? Number(m[2]) : 0 } : null;
}
