/**
 * Ids that say where they live: a hold or order id starts with its sale id, so the edge can route
 * `/api/holds/:id` to the right product object without a lookup. An order id reuses its hold's
 * random part, so a confirmed hold has exactly one possible order id (flushes can be repeated).
 */
const SALE_ID_CHARS = "[a-z0-9][a-z0-9-]{0,62}";
/** A sale id: 1-63 lowercase letters, digits or dashes (it appears in URLs, object names and hold ids). */
export const SALE_ID = new RegExp(`^${SALE_ID_CHARS}$`);
const HOLD_OR_ORDER = new RegExp(`^(${SALE_ID_CHARS})_([ho])([0-9a-f]{20})$`);

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
export const newHoldId = (saleId: string, now = Date.now()) =>
  `${saleId}_h${now.toString(16).padStart(11, "0").slice(-11)}${(holdSeq++ & 0xfff).toString(16).padStart(3, "0")}${randomHex(3)}`;
export const orderIdOf = (holdId: string) => holdId.replace(/_h([0-9a-f]{20})$/, "_o$1");
export const holdIdOf = (orderId: string) => orderId.replace(/_o([0-9a-f]{20})$/, "_h$1");

/** The sale a hold or order id belongs to, or null if the id is not one of ours. */
export function saleOf(id: string, kind: "h" | "o"): string | null {
  const m = HOLD_OR_ORDER.exec(id);
  return m && m[2] === kind ? m[1]! : null;
}
