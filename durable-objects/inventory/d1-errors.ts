/**
 * Why D1 refused a write: the record itself (poison: it would be refused however often it is
 * sent, and must not hold up the records behind it), or D1 for now (an outage: every record
 * waits, and the flush backs off).
 *
 * Poison is what SQLite or D1 says about a statement and its values: a constraint (UNIQUE,
 * CHECK, NOT NULL, FOREIGN KEY), a type D1 cannot bind or a column cannot take, a value too big,
 * a statement that does not parse, and a record whose own JSON cannot be read. Everything else is
 * transient: network and connection losses, timeouts, overload, internal errors, a reset object,
 * and a schema that lacks a table or column (a migration not applied yet is the database's state,
 * the same for every record, and applying it lets them all through).
 */
const POISON = [
  /constraint failed/i,
  /SQLITE_CONSTRAINT/,
  /SQLITE_MISMATCH|datatype mismatch/i,
  /D1_TYPE_ERROR|type '[^']*' not supported/i,
  /SQLITE_TOOBIG|too big|statement too long/i,
  /syntax error|incomplete input|unrecognized token/i, // SQL that does not parse
  /poisoned record/i, // the outbox's own: a body that is not JSON
];
const SCHEMA_MISSING = /no such (table|column)/i;

/** True when D1 refused the record for what it is (see above), false when D1 may take it later. */
export function isPoison(e: unknown): boolean {
  const message = e instanceof Error ? `${e.message} ${String((e as { cause?: unknown }).cause ?? "")}` : String(e);
  if (SCHEMA_MISSING.test(message)) return false;
  return POISON.some((p) => p.test(message));
}
