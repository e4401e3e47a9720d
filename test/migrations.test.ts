import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { catalog } from "../domain/objects";
import { migrate, schemaVersion, type Version } from "../durable-objects/migrations";
import { INVENTORY_SCHEMA } from "../durable-objects/inventory/schema";
import { createSale, saleId } from "./support/sales";
import { claim, heldBy, pay, session } from "./support/shoppers";
import { call, stats, stub } from "./support/worker";

/**
 * The one migration runner (durable-objects/migrations.ts): versions applied once, in order, in
 * one transaction, the number kept in the storage; and objects created before versions
 * were kept (version 0, of any earlier shape) brought up with their data.
 */

/** Runs `fn` with a fresh object's storage (the catalog class: any SQLite-backed object will do). */
function withStorage<T>(fn: (storage: DurableObjectStorage) => T): Promise<T> {
  const s = env.CATALOG.get(env.CATALOG.idFromName(saleId("migrations-store")));
  return runInDurableObject(s, (_i, state) => fn(state.storage));
}

/** Drops the instance once what was written is on disk: the next call builds a new one over that storage. */
async function restart(stub: DurableObjectStub) {
  await runInDurableObject(stub, (_i, state) => state.abort("opened again by the new code")).catch(() => {});
}

const columns = (sql: SqlStorage, table: string) =>
  sql
    .exec<{ name: string }>(`PRAGMA table_info(${table})`)
    .toArray()
    .map((c) => c.name);
const tables = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
    .toArray()
    .map((t) => t.name);

describe("migrate", () => {
  it("applies each version once, in order, and keeps the count in the storage", async () => {
    await withStorage((storage) => {
      const ran: string[] = [];
      const versions: Version[] = [
        ["CREATE TABLE a (x INTEGER)", () => void ran.push("v1")],
        ["ALTER TABLE a ADD COLUMN y TEXT", () => void ran.push("v2")],
      ];
      const before = schemaVersion(storage.sql); // the catalog's own schema
      expect(before).toBeGreaterThan(0);
      // A list of one's own on the same storage: versions past `before` are what runs.
      const mine = [...Array.from({ length: before }, () => [] as Version), ...versions];
      expect(migrate(storage, mine)).toBe(before + 2);
      expect(ran).toEqual(["v1", "v2"]);
      expect(columns(storage.sql, "a")).toEqual(["x", "y"]);
      expect(schemaVersion(storage.sql)).toBe(before + 2);
      // Again: nothing runs (a plain ALTER would fail if it did).
      expect(migrate(storage, mine)).toBe(before + 2);
      expect(ran).toEqual(["v1", "v2"]);
      // A third version runs alone.
      expect(migrate(storage, [...mine, [() => void ran.push("v3")]])).toBe(before + 3);
      expect(ran).toEqual(["v1", "v2", "v3"]);
    });
  });

  it("a version that fails leaves the storage as it was: no table, no column, the same version", async () => {
    await withStorage((storage) => {
      const at = schemaVersion(storage.sql);
      const pad = Array.from({ length: at }, () => [] as Version);
      const failing: Version[] = [
        ...pad,
        ["CREATE TABLE b (x INTEGER)"],
        ["ALTER TABLE b ADD COLUMN y TEXT", "INSERT INTO nowhere VALUES (1)"],
      ];
      expect(() => migrate(storage, failing)).toThrow();
      expect(tables(storage.sql)).not.toContain("b");
      expect(schemaVersion(storage.sql)).toBe(at);
    });
  });

  it("storage ahead of the code (a rollback) is left as it is", async () => {
    await withStorage((storage) => {
      const at = schemaVersion(storage.sql);
      expect(migrate(storage, [["CREATE TABLE c (x INTEGER)"]])).toBe(at);
      expect(tables(storage.sql)).not.toContain("c");
    });
  });
});

describe("objects made before versions were kept (version 0: no schema_version table)", () => {
  it("a product object of the oldest shape opens with its ledger, gains its columns, and sells on", async () => {
    const sale = await createSale({ stock_total: 5 });
    const s = await session();
    const hold = await heldBy(sale, s.token);

    // Storage as a ledger made before identities, payment names, cards and poison counts looked:
    // the same rows, in tables without the later columns and indexes, and no version kept.
    await runInDurableObject(stub(sale), (_i, state) => {
      const sql = state.storage.sql;
      expect(schemaVersion(sql)).toBe(INVENTORY_SCHEMA.length);
      sql.exec("DROP INDEX holds_other_identity");
      sql.exec("DROP INDEX holds_card");
      sql.exec(`CREATE TABLE holds_old (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idem_key TEXT NOT NULL, qty INTEGER NOT NULL,
        amount INTEGER NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_at INTEGER, reason TEXT,
        pay_method TEXT, pay_attempts INTEGER NOT NULL DEFAULT 0, pay_next_at INTEGER,
        pay_deadline INTEGER, charge_id TEXT, confirmed_at INTEGER)`);
      sql.exec(`INSERT INTO holds_old SELECT id, user_id, idem_key, qty, amount, status, source, created_at, expires_at, ended_at,
        reason, pay_method, pay_attempts, pay_next_at, pay_deadline, charge_id, confirmed_at FROM holds`);
      sql.exec("DROP TABLE holds");
      sql.exec("ALTER TABLE holds_old RENAME TO holds");
      sql.exec("CREATE UNIQUE INDEX holds_idem ON holds (user_id, idem_key)");
      sql.exec("CREATE INDEX holds_active ON holds (user_id) WHERE status IN ('held', 'pending')");
      sql.exec("DROP TABLE waitlist");
      sql.exec(`CREATE TABLE waitlist (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL,
        joined_at INTEGER NOT NULL, status TEXT NOT NULL, hold_id TEXT)`);
      sql.exec("INSERT INTO waitlist (user_id, qty, joined_at, status) VALUES ('u-waiting', 1, 1, 'left')");
      sql.exec("DROP TABLE outbox");
      sql.exec(`CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
        body TEXT NOT NULL, created_at INTEGER NOT NULL)`);
      sql.exec("DROP TABLE provider_events");
      sql.exec("DROP TABLE schema_version");
      expect(columns(sql, "holds")).not.toContain("identity");
    });
    await restart(stub(sale));

    // The next call builds a new instance over that storage.
    const after = await stats(sale);
    expect(after.stock).toMatchObject({ held: 1, available: 4 });
    await runInDurableObject(stub(sale), (_i, state) => {
      const sql = state.storage.sql;
      expect(schemaVersion(sql)).toBe(INVENTORY_SCHEMA.length);
      expect(columns(sql, "holds")).toEqual(expect.arrayContaining(["identity", "pay_ref", "pay_fingerprint", "pay_action"]));
      expect(columns(sql, "outbox")).toEqual(expect.arrayContaining(["tries", "last_error"]));
      expect(tables(sql)).toContain("provider_events");
      const indexes = sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index'")
        .toArray()
        .map((i) => i.name);
      expect(indexes).toEqual(expect.arrayContaining(["holds_other_identity", "holds_card"]));
      expect(indexes).not.toContain("holds_active");
      // A place made before identities counts its owner.
      expect(sql.exec("SELECT identity FROM waitlist WHERE user_id = 'u-waiting'").one().identity).toBe("u-waiting");
    });
    // The old hold is the shopper's, and pays (the payment columns came with the migration).
    expect((await call("GET", `/api/holds/${hold.id}`, { token: s.token })).body.hold).toMatchObject({ id: hold.id, status: "held" });
    expect((await pay(hold.id, s.token)).status).toBe(200);
    expect((await stats(sale)).stock).toMatchObject({ sold: 1, held: 0, available: 4 });
  });

  it("a catalogue made before shards gets the column, each sale with its one object", async () => {
    await runInDurableObject(catalog(env), (_i, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE sales");
      sql.exec("CREATE TABLE sales (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)");
      sql.exec("INSERT INTO sales (id, created_at) VALUES ('old-sale', 1)");
      sql.exec("DROP TABLE schema_version");
    });
    await restart(catalog(env));
    // A new stub: the old one is tied to the instance that was aborted.
    expect(await catalog(env).list()).toEqual([{ id: "old-sale", created_at: 1, shards: 1 }]);
    expect(await runInDurableObject(catalog(env), (_i, state) => schemaVersion(state.storage.sql))).toBe(1);
  });

  it("an object made by the code just before versions (today's shape, version 0) opens unchanged", async () => {
    const sale = await createSale({ stock_total: 3 });
    const s = await session();
    expect((await claim(sale, s.token)).status).toBe(201);
    const shape = (sql: SqlStorage) => sql.exec("SELECT type, name, sql FROM sqlite_master ORDER BY name").toArray();
    const before = await runInDurableObject(stub(sale), (_i, state) => {
      const was = shape(state.storage.sql);
      state.storage.sql.exec("DROP TABLE schema_version");
      return was;
    });
    await restart(stub(sale));
    expect((await stats(sale)).stock).toMatchObject({ held: 1, available: 2 });
    await runInDurableObject(stub(sale), (_i, state) => {
      expect(shape(state.storage.sql)).toEqual(before);
      expect(schemaVersion(state.storage.sql)).toBe(INVENTORY_SCHEMA.length);
    });
  });
});
