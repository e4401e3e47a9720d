import { DurableObject } from "cloudflare:workers";
import { fromPlatform, now, onPlatform } from "../../domain/clock";
import { settings, type Settings } from "../../domain/config";
import { log } from "../../domain/log";
import { inventoryShard } from "../../domain/objects";
import { ok, refuse, type Result } from "../../domain/result";
import type { ShardFigures } from "../../domain/schemas/admin";
import type { EventStats } from "../../domain/schemas/events";
import type { ClaimAnswer, HoldView, OrderView } from "../../domain/schemas/hold";
import type { SaleConfig, SaleState, SaleUpdate, SaleView, Stock } from "../../domain/schemas/sale";
import { shardsIn, splitStock } from "../../domain/shards";
import type { Columns } from "../../domain/schemas/series";
import { gatewayFor } from "../payments";
import type { PaymentGateway } from "../payments/gateway";
import { migrate } from "../migrations";
import { Series } from "../series";
import { Claims, type ClaimRequest } from "./claims";
import { Delivery, webhookSecrets } from "./delivery";
import { Events } from "./events";
import { Holds } from "./holds";
import { earliest, iso, type Host, type Scheduled } from "./host";
import { Outbox, type Reconciliation } from "./outbox";
import { Payments, type PayAnswer } from "./payments";
import { Orders } from "./orders";
import { PayQueue } from "./pay-queue";
import { pacerFor, ratesFor } from "../payment-pacer";
import { ProviderEvents, type ProviderEvent, type ProviderEventAnswer } from "./provider-events";
import type { OutboxRecord } from "./records";
import { Refunds } from "./refunds";
import { Rebalance, type Give, type Granted, type TransferFault } from "./rebalance";
import { noSale, Sale } from "./sale";
import { INVENTORY_SCHEMA } from "./schema";
import { ShardLedger } from "./shard";
import { inventoryStats, type InventoryStats, type Served } from "./stats";
import { Waitlist } from "./waitlist";
import { Turns } from "./turns";
import type { Claimable } from "../../domain/schemas/room";

export type { ClaimRequest, InventoryStats, TransferFault };
export type ReconcileReport = Awaited<ReturnType<ProductInventory["reconcile"]>>;

/**
 * One per sale: the only place that may say "yes". It holds the authoritative stock and the
 * holds ledger in SQLite; every transition is one `transactionSync`, and nothing is answered
 * before it is stored (the output gate holds replies until the write is durable).
 *
 * The work is done by parts, each with its own tables (sale.ts, holds.ts, waitlist.ts,
 * claims.ts, payments.ts, refunds.ts, outbox.ts); each sees only the slice of this object it
 * needs (host.ts). This class keeps the RPC surface and the one alarm: it asks each part when
 * its next work is due (the next hold expiry, payment re-ask, refund, outbox flush) and runs it.
 * Every alarm step re-reads state in a transaction, so a repeated or retried alarm changes
 * nothing twice.
 *
 * A sale created with `shards: N` has N of these objects (domain/shards.ts): each keeps its share
 * of the stock and the holds of the shoppers whose home it is, and takes units from its siblings
 * when it runs dry (shard.ts, rebalance.ts). An unsharded sale's object never enters that code.
 */
export class ProductInventory extends DurableObject<Env> {
  private readonly s: Settings;
  private readonly sale: Sale;
  private readonly holds: Holds;
  private readonly waitlist: Waitlist;
  private readonly claims: Claims;
  private readonly payments: Payments;
  private readonly orders: Orders;
  private readonly payQueue: PayQueue;
  private readonly refunds: Refunds;
  private readonly outbox: Outbox;
  private readonly providerEvents: ProviderEvents;
  private readonly ledger: ShardLedger;
  private readonly rebalance: Rebalance;
  /** The shop's order events and their pipes (docs/events.md). */
  private readonly events: Events;
  private readonly delivery: Delivery;
  private readonly turns: Turns;
  /** Tests only, through runInDurableObject (an instance field: not reachable over RPC). */
  readonly testFaults: { transfer: TransferFault | null } = { transfer: null };
  /** The operators' per-second history (series.ts): every part counts into it through its host. */
  private readonly history: Series;
  /** The parts with timed work, in the order the alarm used to ask them. */
  private readonly scheduled: Scheduled[];
  private readonly served: Served = { claims: 0, batches: 0, infos: 0, since: now() };
  private alarmAt: number | null = null;
  private wanted: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.s = settings(env);
    const sql = ctx.storage.sql;
    migrate(ctx.storage, INVENTORY_SCHEMA);
    void ctx.blockConcurrencyWhile(async () => {
      const at = await ctx.storage.getAlarm();
      this.alarmAt = at === null ? null : fromPlatform(at);
    });

    const logAt = (level: "info" | "warn", event: string, fields: Record<string, unknown>) => log(level, event, fields, this.s.LOG_LEVEL);
    // Sampled when a second is written: the stock and the outbox as they stand.
    this.history = new Series(sql, {
      table: "series",
      warn: (event, fields) => logAt("warn", event, fields),
      sample: () => {
        const row = this.sale.row();
        return { backlog: this.outbox.backlog(), ...(row && { available: row.available, held: row.held, sold: row.sold }) };
      },
    });
    const host: Host = {
      sql,
      now,
      transactionSync: (fn) => ctx.storage.transactionSync(fn),
      want: (t) => this.want(t),
      armAlarm: () => this.armAlarm(),
      log: logAt,
      series: this.history,
    };
    // Parts that call each other in a circle (an ended hold's units go to the waitlist, which
    // makes holds) are joined through these closures, read when called. A record for D1 brings
    // the shop's events it means, in the caller's transaction. (MUTATION drop-outbox, a deliberate
    // bug for testing the tests, loses orders here: docs/testing.md.)
    const dropOrders = this.s.MUTATION === "drop-outbox";
    const enqueue = (rec: OutboxRecord, now: number, delay?: number) => {
      if (dropOrders && rec.kind === "order") return;
      this.outbox.enqueue(rec, now, delay);
      this.events.observe(rec, now);
    };
    const offerWaitlist = (now: number) => this.waitlist.offer(now);
    let gateway: PaymentGateway | undefined;
    // Calls outside a payment's turn are paced in the pacer's lane for calls (pay-queue.ts).
    const gatewayOnce = () => (gateway ??= this.payQueue.pacedGateway(gatewayFor(env)));

    const ledger = (this.ledger = new ShardLedger(sql));
    this.sale = new Sale({ ...host, enqueue, offerWaitlist, catalogStock: (row) => ledger.publishedStock(row.stock_total) });
    this.turns = new Turns(sql);
    this.holds = new Holds({
      ...host,
      sale: this.sale,
      offerWaitlist,
      refundOf: (holdId) => this.refunds.of(holdId),
      idPrefix: (sale) => ledger.name(sale),
    });
    this.waitlist = new Waitlist({ ...host, sale: this.sale, holds: this.holds });
    this.claims = new Claims({
      ...host,
      groupCommit: this.s.GROUP_COMMIT,
      skipStockCheck: this.s.MUTATION === "skip-stock-check",
      served: this.served,
      sale: this.sale,
      holds: this.holds,
      waitlist: this.waitlist,
      turns: this.turns,
    });
    this.refunds = new Refunds({ ...host, sale: this.sale, enqueue, gateway: gatewayOnce });
    const rates = ratesFor(env);
    this.payQueue = new PayQueue({
      ...host,
      settings: this.s,
      pacer: () => pacerFor(env),
      requestGapMs: 1000 / (rates.account + rates.calls),
    });
    this.orders = new Orders({ sql, holds: this.holds, sale: this.sale });
    this.payments = new Payments({
      ...host,
      settings: this.s,
      sale: this.sale,
      holds: this.holds,
      refunds: this.refunds,
      enqueue,
      gateway: gatewayOnce,
      queue: this.payQueue,
      confirmTwice: this.s.MUTATION === "confirm-twice",
      sync: () => ctx.storage.sync(),
    });
    this.outbox = new Outbox({
      ...host,
      db: env.DB,
      settings: this.s,
      sale: this.sale,
      ledger: (cfg) => ({ orders: this.orders.all(cfg), refunds: this.refunds.refunded(cfg) }),
      scope: () => (ledger.where ? ledger.name(this.sale.existing().sale_id) : null),
    });
    this.providerEvents = new ProviderEvents({
      ...host,
      sale: this.sale,
      holds: this.holds,
      refunds: this.refunds,
      lookup: (holdId) => this.payments.lookupFor(holdId),
      receive: (holdId, outcome, event) => this.payments.receive(holdId, outcome, event),
    });
    this.rebalance = new Rebalance({
      ...host,
      ledger,
      sale: this.sale,
      faults: this.testFaults,
      sibling: (shard) => inventoryShard(env, this.sale.existing().sale_id, shard),
      sync: () => ctx.storage.sync(),
      abort: (reason) => ctx.abort(reason),
    });
    this.delivery = new Delivery({ ...host, settings: this.s, queue: env.ORDER_EVENTS, secrets: () => webhookSecrets(env) });
    this.events = new Events({
      ...host,
      sale: this.sale,
      delayMs: this.s.FLUSH_DELAY_MS,
      sharded: () => ledger.where !== null,
      deliveryStats: () => this.delivery.stats(),
      pipes: () => ({ queue: !!env.ORDER_EVENTS, webhook: !!this.s.SHOP_WEBHOOK_URL }),
    });
    this.scheduled = [this.holds, this.payments, this.refunds, this.outbox, this.rebalance, this.events, this.delivery];
  }

  // ---------------------------------------------------------------- sale configuration (sale.ts)

  configure(cfg: SaleConfig): Result<{ created: boolean; sale: SaleView }> {
    if (shardsIn(cfg) > 1) return refuse("invalid_request", "a sharded sale's objects are configured with configureShard");
    return this.sale.configure(cfg);
  }

  /** Shard `shard` of a sharded sale: its share of the stock (the low shards have the remainder). */
  configureShard(cfg: SaleConfig, shard: number): Result<{ created: boolean; sale: SaleView }> {
    const n = shardsIn(cfg);
    if (n < 2 || !Number.isInteger(shard) || shard < 0 || shard >= n)
      return refuse("invalid_request", `no shard ${shard} in a sale of ${n} shards`);
    const where = this.ledger.where;
    if (where && (where.idx !== shard || where.count !== n))
      return refuse("conflict", `this object is shard ${where.idx} of ${where.count}`);
    const share = splitStock(cfg.stock_total, n)[shard]!;
    return this.sale.configure(cfg, { stock: share, within: () => this.ledger.configure(shard, n, share, cfg.stock_total) });
  }

  update(patch: SaleUpdate): Result<SaleView> {
    return this.sale.update(patch);
  }

  setState(state: SaleState): Result<SaleView> {
    return this.sale.setState(state);
  }

  restock(qty: number): Result<SaleView> {
    if (this.ledger.where) return refuse("invalid_request", "a sharded sale's shards are restocked with restockShard");
    return this.sale.restock(qty);
  }

  /** A shard's `share` of a restock of `qty` units (the edge splits it as the stock was split). */
  restockShard(qty: number, share: number): Result<SaleView> {
    if (!this.ledger.where) return refuse("invalid_request", "not a shard of a sharded sale");
    return this.sale.restock(share, () => this.ledger.restocked(share, qty));
  }

  /** The sale's full configuration (admission settings included), for the waiting room. */
  saleConfig(): Result<SaleConfig> {
    const row = this.sale.row();
    return row ? ok(this.sale.config(row)) : noSale();
  }

  /** Public sale info with availability. */
  info(): Result<SaleView> {
    this.served.infos++; // edge cache misses (stats show how many polls got past the cache)
    const row = this.sale.row();
    return row ? ok(this.sale.view(row, now())) : noSale();
  }

  /**
   * A shard's public view for the edge's sum: the view, its `base` units, and whether it is
   * waiting for a transfer (units may be on their way: the sale is not sold out meanwhile).
   */
  shardInfo(): Result<{ sale: SaleView; base: number; asking: number }> {
    this.served.infos++;
    const row = this.sale.row();
    const f = this.ledger.brief();
    if (!row || !f) return noSale();
    return ok({ sale: this.sale.view(row, now()), base: f.base, asking: f.asking });
  }

  /**
   * What the waiting room needs to admit no more shoppers than units (turns.ts): units available
   * and held here, transfers this shard waits for, and the turns used that have not ended. Asked
   * by the room at most once per tick, whatever the number of claims.
   */
  claimable(): Result<Claimable> {
    const row = this.sale.row();
    if (!row) return noSale();
    return ok({ available: row.available, held: row.held, asking: this.ledger.brief()?.asking ?? 0, used: this.turns.open(now()) });
  }

  // ---------------------------------------------------------------- claims (claims.ts)

  /** A hold for `qty` units, the user's existing hold, a waitlist place, or a refusal. */
  claim(req: ClaimRequest): Promise<Result<ClaimAnswer>> {
    // A shard that is dry asks its siblings before it answers "sold out" (rebalance.ts).
    if (this.ledger.where)
      return this.rebalance.claim(
        req,
        (r, tentative) => this.claims.claim(r, tentative),
        () => this.claims.countSoldOut(),
      );
    return this.claims.claim(req);
  }

  // ---------------------------------------------------------------- transfers (rebalance.ts)

  /** A sibling shard ran dry: units for it, once per transfer id. */
  give(t: Give): Promise<Result<Granted>> {
    return this.rebalance.give(t);
  }

  // ---------------------------------------------------------------- holds (holds.ts)

  /** The shopper's own holds in this sale, newest first (how a client that lost an answer finds its hold). */
  holdsOf(user: string): Result<HoldView[]> {
    return this.holds.holdsOf(user);
  }

  hold(holdId: string, user: string): Result<HoldView> {
    return this.holds.hold(holdId, user);
  }

  cancel(holdId: string, user: string): Result<HoldView> {
    return this.holds.cancel(holdId, user);
  }

  // ---------------------------------------------------------------- payments (payments.ts)

  /** Charges a held hold; the answer is the hold as it stands afterwards (and the per-card limit it was held to). */
  pay(holdId: string, user: string, method: string): Promise<Result<PayAnswer>> {
    return this.payments.pay(holdId, user, method);
  }

  /**
   * An event the provider pushed (a verified webhook, the simulator's delivery), applied once by
   * the rules of a direct answer: every outcome enters payments by one door (payments.ts `receive`).
   */
  providerEvent(e: ProviderEvent): Promise<Result<ProviderEventAnswer>> {
    return this.providerEvents.apply(e);
  }

  order(orderId: string, user: string): Result<OrderView> {
    return this.orders.order(orderId, user);
  }

  // ---------------------------------------------------------------- outbox → D1 (outbox.ts)

  /** Compares the ledger with D1 and sends again whatever D1 lacks. */
  reconcile(): Promise<Result<Reconciliation>> {
    return this.outbox.reconcile();
  }

  // ---------------------------------------------------------------- the shop's events (events.ts, delivery.ts)

  /** Webhook events given up on (dead letters) are sent again. */
  resendEvents(): Result<{ resent: number }> {
    return this.sale.row() ? ok({ resent: this.events.resend(now()) }) : noSale();
  }

  // ---------------------------------------------------------------- alarm

  override async alarm(): Promise<void> {
    const t = now();
    try {
      this.holds.expireDue(t);
      this.events.endedDue(t);
      this.delivery.kick(t); // starts the shop's requests; never waits for them
      await Promise.all([this.payments.reaskDue(t), this.refunds.sendDue(t), ...(this.ledger.where ? [this.rebalance.retryDue(t)] : [])]);
      await this.outbox.flushDue(now());
    } finally {
      this.scheduleAlarm();
    }
  }

  /** Records that the alarm must run by `t` (set after the transaction, by armAlarm). */
  private want(t: number): void {
    if (this.wanted === null || t < this.wanted) this.wanted = t;
  }

  private armAlarm(): void {
    const t = this.wanted;
    this.wanted = null;
    if (t !== null && (this.alarmAt === null || t < this.alarmAt)) {
      this.alarmAt = t;
      void this.ctx.storage.setAlarm(onPlatform(t));
    }
  }

  /** Recomputes the one alarm from the parts: next expiry, re-ask, refund or flush. */
  private scheduleAlarm(): void {
    this.wanted = null;
    this.alarmAt = earliest(...this.scheduled.map((p) => p.nextAlarm()));
    if (this.alarmAt === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(onPlatform(this.alarmAt));
  }

  // ---------------------------------------------------------------- operators

  /** The object's figures; a shard's carry its own (`shard`), read in the same moment as its stock. */
  stats(): InventoryStats & { events: EventStats; shard?: ShardFigures } {
    const s = inventoryStats({
      sale: this.sale,
      holds: this.holds,
      refunds: this.refunds,
      waitlist: this.waitlist,
      outbox: this.outbox,
      payQueue: this.payQueue,
      served: this.served,
      alarmAt: this.alarmAt,
      now: now(),
    });
    const shard = this.ledger.figures();
    return { ...s, events: this.events.stats(), ...(shard && { shard }) };
  }

  /** The sale and its stock, or null: what a list of sales shows (cheaper than `stats`). */
  overview(): { sale: SaleView; stock: Stock; shard?: ShardFigures } | null {
    const row = this.sale.row();
    if (!row) return null;
    const { stock_total, available, held, sold, withdrawn } = row;
    const shard = this.ledger.figures();
    return { sale: this.sale.view(row, now()), stock: { stock_total, available, held, sold, withdrawn }, ...(shard && { shard }) };
  }

  /** The per-second history after `sinceS` (epoch seconds), within the last hour. */
  series(sinceS?: number): Columns {
    return this.history.read(now(), sinceS);
  }

  /** Rehearsal faults (ALLOW_FAULTS only): a D1 outage for `d1_down_ms`, or a restart. */
  fault(f: { d1_down_ms?: number; restart?: boolean }): Result<{ d1_down_until: string | null }> {
    if (!this.s.ALLOW_FAULTS) return refuse("forbidden", "faults are disabled (ALLOW_FAULTS)");
    if (f.d1_down_ms !== undefined) this.outbox.failD1For(f.d1_down_ms);
    if (f.restart) setTimeout(() => this.ctx.abort("injected fault: restart"), 10);
    const until = this.outbox.d1DownUntil();
    return ok({ d1_down_until: until ? iso(until) : null });
  }
}
