import type { Version } from "../migrations";
import { seriesTable } from "../series";
import { EVENTS_DDL } from "./events";
import { HOLDS_DDL } from "./holds";
import { META_DDL } from "./meta";
import { OUTBOX_DDL } from "./outbox";
import { PAY_QUEUE_DDL } from "./pay-queue";
import { TURNS_DDL } from "./turns";
import { PROVIDER_EVENTS_DDL } from "./provider-events";
import { REFUNDS_DDL } from "./refunds";
import { SALE_DDL } from "./sale";
import { SHARD_DDL } from "./shard";
import { WAITLIST_DDL } from "./waitlist";

/**
 * The product object's storage, version by version (migrations.ts). Each part declares its own
 * tables; version 1 is them all as they stood when versions began to be kept, in the order they
 * were created, and brings a ledger of any earlier vintage up (it adds only what is missing).
 * A change is a new version at the end, never an edit of one that has shipped.
 */
export const INVENTORY_SCHEMA: readonly Version[] = [
  [
    ...SALE_DDL,
    ...HOLDS_DDL,
    ...WAITLIST_DDL,
    ...REFUNDS_DDL,
    ...OUTBOX_DDL,
    ...META_DDL,
    ...PROVIDER_EVENTS_DDL,
    ...SHARD_DDL,
    seriesTable("series"),
  ],
  // 2: a payment's turn at the provider (pay-queue.ts: the pacer's slot, kept with its hold).
  PAY_QUEUE_DDL,
  // 3: the shop's order events and their delivery state per pipe (events.ts, docs/events.md).
  [...EVENTS_DDL],
  // 4: the turns used, by the room's turn and the identity that used it (turns.ts: a turn carries one unit).
  TURNS_DDL,
];
