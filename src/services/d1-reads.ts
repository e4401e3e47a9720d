/**
 * What the operator reads from D1, the finance record, beside the objects' own figures. The
 * only SQL the edge runs: D1 is written by the objects' outboxes alone.
 */

export type D1Counts = { orders: number; units: number; revenue: number; refunds: number };

/** D1's view of a sale, for stats: what finance will see (or why D1 did not answer). */
export async function d1Counts(db: D1Database, saleId: string): Promise<D1Counts | null | { error: string }> {
  try {
    return await db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM orders WHERE sale_id = ?1) AS orders,
                (SELECT COALESCE(SUM(qty), 0) FROM orders WHERE sale_id = ?1) AS units,
                (SELECT COALESCE(SUM(amount), 0) FROM orders WHERE sale_id = ?1) AS revenue,
                (SELECT COUNT(*) FROM refunds WHERE sale_id = ?1) AS refunds`,
      )
      .bind(saleId)
      .first<D1Counts>();
  } catch (e) {
    return { error: `D1 did not answer: ${String(e)}` };
  }
}
