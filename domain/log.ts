import { now } from "./clock";

/**
 * Structured log lines: one JSON object per event, so `wrangler tail --format json` (and
 * Workers Logs) can be filtered by `event` (claim, expire, pay, refund, flush, ...).
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;

export function log(level: Level, event: string, fields: Record<string, unknown> = {}, min: Level = "info"): void {
  if (LEVELS[level] < LEVELS[min]) return;
  const line = JSON.stringify({ level, event, ...fields, t: new Date(now()).toISOString() });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
