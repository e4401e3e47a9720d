import { shardName } from "./shards";

/** Stubs for the per-sale objects; one named instance per sale id. */
export const inventory = (env: Env, saleId: string) => env.INVENTORY.get(env.INVENTORY.idFromName(saleId));
/** One shard of a sharded sale's stock (shard 0 is `inventory(env, saleId)` itself: domain/shards.ts). */
export const inventoryShard = (env: Env, saleId: string, shard: number) => inventory(env, shardName(saleId, shard));
export const room = (env: Env, saleId: string) => env.ROOM.get(env.ROOM.idFromName(saleId));
export const gatewaySim = (env: Env) => env.GATEWAY_SIM.get(env.GATEWAY_SIM.idFromName("default"));
/** The shop's list of sales: one object (durable-objects/catalog.ts). */
export const catalog = (env: Env) => env.CATALOG.get(env.CATALOG.idFromName("sales"));
