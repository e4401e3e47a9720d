import { SIGNATURE_HEADER, signatureHeader } from "../../domain/webhook-signature.js";
import type { Settings } from "../../domain/config";
import { usableSecret } from "../../domain/secrets";
import { earliest, type Host, type Scheduled } from "./host";
import { Meta } from "./meta";

// The order events' Queue producer is optional (wrangler.toml has it commented out), so `wrangler
// types` does not generate it: declared here, where it is used, as possibly absent.
declare global {
  interface Env {
    ORDER_EVENTS?: Queue;
  }
  namespace Cloudflare {
    interface Env {
      ORDER_EVENTS?: Queue;
    }
  }
}

/** Webhook requests in flight at once, per object (a slow shop holds at most this many). */
const MAX_HOOKS_IN_FLIGHT = 16;
/** A queue's sendBatch takes at most 100 messages. */
const QUEUE_BATCH = 100;
const QUEUE_TIMEOUT_MS = 30_000;
/** The longest wait between two tries of one event (webhook or queue). */
const MAX_BACKOFF_MS = 3600_000;

/** The keys webhooks are signed with, the current one first: those the secret rules accept. */
export function webhookSecrets(env: { SHOP_WEBHOOK_SECRET?: string; SHOP_WEBHOOK_SECRET_PREVIOUS?: string }): string[] {
  const current = usableSecret("SHOP_WEBHOOK_SECRET", env.SHOP_WEBHOOK_SECRET);
  const previous = env.SHOP_WEBHOOK_SECRET_PREVIOUS ? usableSecret("SHOP_WEBHOOK_SECRET_PREVIOUS", env.SHOP_WEBHOOK_SECRET_PREVIOUS) : null;
  return [current, previous].filter((x): x is string => x !== null);
}

type Key = "events_queue_failures" | "events_hook_failures";
type Due = { id: string; body: string; tries: number; since: number };

export interface DeliveryHost extends Host {
  settings: Pick<Settings, "SHOP_WEBHOOK_URL" | "SHOP_WEBHOOK_TIMEOUT_MS" | "SHOP_WEBHOOK_RETRY_MS" | "SHOP_WEBHOOK_GIVE_UP_S">;
  /** The ORDER_EVENTS producer, if bound. */
  queue: Queue | undefined;
  /** The usable signing secrets, the current one first (none: the webhook pipe fails visibly). */
  secrets(): string[];
}

/**
 * Sends recorded events (events.ts) down each pipe, off the hot path: the alarm calls `kick`,
 * which leases the due events (their next time moves past the attempt's timeout, on disk) and
 * starts the requests without awaiting them. Claims, payments and the D1 flush never wait for
 * the shop; while a request is out the input gate is open, so every write here is a short
 * transaction that re-checks the row's state. A restart mid-request loses the request, not the
 * event: its lease runs out and the alarm sends it again (at least once; the id is the same).
 */
export class Delivery implements Scheduled {
  private readonly sql: SqlStorage;
  private readonly meta: Meta<Key>;
  private hooksInFlight = 0;
  private queueInFlight = false;
  private lastError: { queue: string | null; webhook: string | null } = { queue: null, webhook: null };

  constructor(private readonly host: DeliveryHost) {
    this.sql = host.sql;
    this.meta = new Meta(host.sql);
  }

  /**
   * The next event due on a pipe that is on. A pipe at its limit of requests in flight is woken
   * by their answers (`kick`), not by the alarm: its due events would set the alarm to "now"
   * again and again. The alarm only stands by, past the requests' timeout.
   */
  nextAlarm(): number | null {
    const due = (pipe: "queue" | "hook") =>
      this.sql.exec<{ t: number | null }>(`SELECT MIN(${pipe}_next_at) AS t FROM events WHERE ${pipe}_state = 'pending'`).one().t;
    const now = this.host.now();
    const pipe = (on: boolean, full: boolean, timeoutMs: number, t: () => number | null) => {
      if (!on) return null; // waits for the pipe to be configured again
      const at = t();
      return at !== null && full ? Math.max(at, now + timeoutMs) : at;
    };
    return earliest(
      pipe(!!this.host.queue, this.queueInFlight, QUEUE_TIMEOUT_MS, () => due("queue")),
      pipe(
        !!this.host.settings.SHOP_WEBHOOK_URL,
        this.hooksInFlight >= MAX_HOOKS_IN_FLIGHT,
        this.host.settings.SHOP_WEBHOOK_TIMEOUT_MS,
        () => due("hook"),
      ),
    );
  }

  /** Starts sending what is due (called by the alarm, and as requests finish). Never awaits the shop. */
  kick(now: number): void {
    if (this.host.queue && !this.queueInFlight) {
      const rows = this.lease("queue", now, QUEUE_BATCH, QUEUE_TIMEOUT_MS + 1000);
      if (rows.length) {
        this.queueInFlight = true;
        void this.sendQueue(this.host.queue, rows).finally(() => {
          this.queueInFlight = false;
          this.kick(this.host.now());
        });
      }
    }
    const url = this.host.settings.SHOP_WEBHOOK_URL;
    const room = MAX_HOOKS_IN_FLIGHT - this.hooksInFlight;
    if (url && room > 0) {
      const rows = this.lease("hook", now, room, this.host.settings.SHOP_WEBHOOK_TIMEOUT_MS + 1000);
      for (const r of rows) {
        this.hooksInFlight++;
        void this.post(url, r).finally(() => {
          this.hooksInFlight--;
          this.kick(this.host.now());
        });
      }
    }
    this.host.armAlarm();
  }

  /** Due events of a pipe, their next time moved past this attempt (on disk, so a restart retries them). */
  private lease(pipe: "queue" | "hook", now: number, limit: number, leaseMs: number): Due[] {
    return this.host.transactionSync(() => {
      const rows = this.sql
        .exec<Due>(
          `SELECT id, body, ${pipe}_tries AS tries, COALESCE(hook_since, created_at) AS since FROM events
           WHERE ${pipe}_state = 'pending' AND ${pipe}_next_at <= ? ORDER BY ${pipe}_next_at LIMIT ?`,
          now,
          limit,
        )
        .toArray();
      if (rows.length === 0) return rows;
      const until = now + leaseMs;
      for (const r of rows) this.sql.exec(`UPDATE events SET ${pipe}_next_at = ? WHERE id = ?`, until, r.id);
      this.host.want(until);
      return rows;
    });
  }

  private async sendQueue(queue: Queue, rows: Due[]): Promise<void> {
    let error: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const sent = queue.sendBatch(rows.map((r) => ({ body: JSON.parse(r.body) as unknown, contentType: "json" as const })));
      const late = new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${QUEUE_TIMEOUT_MS} ms`)), QUEUE_TIMEOUT_MS)),
      );
      await Promise.race([sent, late]);
    } catch (e) {
      error = String(e);
    } finally {
      clearTimeout(timer);
    }
    const now = this.host.now();
    this.host.transactionSync(() => {
      for (const r of rows) {
        if (error === null)
          this.sql.exec("UPDATE events SET queue_state = 'delivered', queue_next_at = NULL WHERE id = ? AND queue_state = 'pending'", r.id);
        else this.retry("queue", r, now);
      }
      if (error !== null) this.meta.bump("events_queue_failures", 1);
    });
    if (error !== null) {
      this.lastError.queue = error.slice(0, 300);
      this.host.log("warn", "events_queue_failed", { events: rows.length, error: this.lastError.queue });
    }
  }

  /** One signed POST of one event, with a timeout; a 2xx is delivered, anything else is tried again. */
  private async post(url: string, r: Due): Promise<void> {
    const s = this.host.settings;
    const secrets = this.host.secrets();
    let error: string | null = null;
    if (secrets.length === 0) error = "SHOP_WEBHOOK_SECRET is not set or is refused (see the log's secret_refused)";
    else {
      try {
        const res = await fetch(url, {
          method: "POST",
          body: r.body,
          redirect: "manual",
          signal: AbortSignal.timeout(s.SHOP_WEBHOOK_TIMEOUT_MS),
          headers: {
            "content-type": "application/json",
            "user-agent": "flashsale-webhooks/1",
            [SIGNATURE_HEADER]: await signatureHeader(secrets, r.body, Math.floor(this.host.now() / 1000)),
            "flashsale-event-id": r.id,
            "flashsale-attempt": String(r.tries + 1),
          },
        });
        await res.body?.cancel();
        if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
      } catch (e) {
        const name = (e as Error)?.name;
        error =
          name === "TimeoutError" || name === "AbortError" ? `no answer within ${s.SHOP_WEBHOOK_TIMEOUT_MS} ms` : String(e).slice(0, 300);
      }
    }
    const now = this.host.now();
    const dead = this.host.transactionSync(() => {
      if (error === null) {
        this.sql.exec(
          "UPDATE events SET hook_state = 'delivered', hook_next_at = NULL, hook_done_at = ?, hook_error = NULL WHERE id = ? AND hook_state = 'pending'",
          now,
          r.id,
        );
        return false;
      }
      this.meta.bump("events_hook_failures", 1);
      if (now - r.since >= s.SHOP_WEBHOOK_GIVE_UP_S * 1000) {
        this.sql.exec(
          "UPDATE events SET hook_state = 'dead', hook_next_at = NULL, hook_tries = hook_tries + 1, hook_done_at = ?, hook_error = ? WHERE id = ? AND hook_state = 'pending'",
          now,
          error,
          r.id,
        );
        return true;
      }
      this.retry("hook", r, now, error);
      return false;
    });
    if (error !== null) this.lastError.webhook = error;
    if (dead)
      this.host.log("error", "events_dead_letter", {
        event: r.id,
        tries: r.tries + 1,
        error,
        fix: "fix the shop's endpoint, then `npm run sale -- events resend <sale>`",
      });
    else if (error !== null) this.host.log("warn", "events_webhook_failed", { event: r.id, tries: r.tries + 1, error });
  }

  /** The next try of a failed one: exponential backoff with jitter (half to the whole step), capped. */
  private retry(pipe: "queue" | "hook", r: Due, now: number, error?: string): void {
    const step = Math.min(MAX_BACKOFF_MS, this.host.settings.SHOP_WEBHOOK_RETRY_MS * 2 ** r.tries);
    const next = now + Math.round(step / 2 + (Math.random() * step) / 2);
    if (pipe === "hook") {
      this.sql.exec(
        "UPDATE events SET hook_next_at = ?, hook_tries = hook_tries + 1, hook_error = ? WHERE id = ? AND hook_state = 'pending'",
        next,
        error ?? null,
        r.id,
      );
    } else {
      this.sql.exec(
        "UPDATE events SET queue_next_at = ?, queue_tries = queue_tries + 1 WHERE id = ? AND queue_state = 'pending'",
        next,
        r.id,
      );
    }
    this.host.want(next);
  }

  stats() {
    return {
      queue: { failures: this.meta.get("events_queue_failures") ?? 0, last_error: this.lastError.queue },
      webhook: { failures: this.meta.get("events_hook_failures") ?? 0, last_error: this.lastError.webhook },
    };
  }
}
