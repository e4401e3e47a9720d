/**
 * The one way an object's storage is shaped and changed. Each object lists its schema as
 * versions, in order; the storage keeps how many it has applied, and on start the object applies
 * the versions it has not, all in one transaction with the new number: a crash mid-way leaves the
 * storage as it was, never half-changed.
 *
 * The number lives in a one-row table, `schema_version`, not in SQLite's `PRAGMA user_version`:
 * Durable Objects refuse that pragma (SQLITE_AUTH), read or written. A storage without the
 * table is at version 0.
 *
 * A version is never edited once shipped: a change is a new version at the end of the list.
 *
 * Version 1 of every object is its schema as it stood before versions were kept. Every object
 * created until then is at version 0 whatever its vintage, so version 1 is written to bring
 * ANY earlier shape up: `CREATE ... IF NOT EXISTS`, and columns added only where they are missing
 * (`addColumns`, or a step that reads `PRAGMA table_info` first). From version 2 on, a version runs
 * exactly once and can be plain statements.
 *
 * Storage already past the last version this code knows (a rollback after a newer deploy) is left
 * as it is: versions only add, so the older code finds everything it needs.
 */

/** One statement, or a step that reads the schema before it changes it. */
export type Step = string | ((sql: SqlStorage) => void);
/** One version of a schema: its steps, applied together. */
export type Version = readonly Step[];

const VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)";

/** The number of versions applied to this storage (0: none, or made before versions were kept). */
export function schemaVersion(sql: SqlStorage): number {
  const kept =
    sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").one().n > 0;
  return kept ? (sql.exec<{ version: number }>("SELECT version FROM schema_version WHERE id = 1").toArray()[0]?.version ?? 0) : 0;
}

/** Applies the versions this storage lacks, in one transaction; answers the version it is now at. */
export function migrate(storage: DurableObjectStorage, versions: readonly Version[]): number {
  const sql = storage.sql;
  const at = schemaVersion(sql);
  if (at >= versions.length) return at;
  storage.transactionSync(() => {
    for (const version of versions.slice(at)) for (const step of version) typeof step === "string" ? sql.exec(step) : step(sql);
    sql.exec(VERSION_TABLE);
    sql.exec(
      "INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
      versions.length,
    );
  });
  return versions.length;
}

/** Adds the columns a table lacks (SQLite has no `ADD COLUMN IF NOT EXISTS`). */
export const addColumns =
  (table: string, columns: Record<string, string>): Step =>
  (sql) => {
    const have = new Set(
      sql
        .exec<{ name: string }>(`PRAGMA table_info(${table})`)
        .toArray()
        .map((c) => c.name),
    );
    for (const [name, type] of Object.entries(columns)) if (!have.has(name)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
  };
