// The CLI's arguments: number parsing, the server's zod schemas turned into one line per bad
// argument (naming the flag and an example of a right value), and where the credentials come from.
import { InvalidArgumentError } from "commander";
import { existsSync, readFileSync } from "node:fs";
import type { z } from "zod";

/** A mistake the operator can fix: printed as one line (`✗ …`), exit code 2. */
export class UsageError extends Error {}

/** A refusal or an unreachable server: printed as one line, exit code 1. */
export class Failure extends Error {}

/** How each field of a sale's config is given on the command line, with an example of a right value. */
export const FLAGS: Record<string, { flag: string; example: string; invalid?: string }> = {
  id: { flag: "<id>", example: "drop-1" },
  "product.id": { flag: "--product-id", example: "--product-id console-x" },
  "product.name": { flag: "--name", example: '--name "Console X"' },
  "product.price": { flag: "--price", example: "--price 49900 for 499.00 (minor units)" },
  "product.currency": { flag: "--currency", example: "--currency EUR" },
  stock_total: { flag: "--stock", example: "--stock 100" },
  starts_at: {
    flag: "--starts",
    example: "--starts 2026-12-01T10:00:00Z, or --starts-in 600 (seconds)",
    invalid: "not an ISO 8601 time with a zone",
  },
  ends_at: {
    flag: "--ends",
    example: "--ends 2026-12-01T12:00:00Z, or --ends-in 7200 (seconds)",
    invalid: "not an ISO 8601 time with a zone",
  },
  hold_ttl_s: { flag: "--hold-ttl", example: "--hold-ttl 300 (seconds, 1-3600)" },
  per_user_limit: { flag: "--limit", example: "--limit 1 (1-100 units)" },
  release_policy: { flag: "--policy", example: "--policy release" },
  admission_rate: { flag: "--rate", example: "--rate 50 (shoppers admitted per second)" },
  max_active: { flag: "--max-active", example: "--max-active 1000" },
  admit_per_unit: { flag: "--admit-per-unit", example: "--admit-per-unit 1 (0.1-2 shoppers per unit left)" },
  lottery_s: { flag: "--lottery", example: "--lottery 10 (seconds after the opening, 0-600)" },
  pow_difficulty: { flag: "--pow", example: "--pow 16 (bits, 0-28)" },
  shards: { flag: "--shards", example: "--shards 8 (1-64 product objects)" },
  qty: { flag: "<qty>", example: "20 (1-10000000 units)" },
};

/** A commander parser for a number option (ranges and integers are the server schema's to check). */
export const number = (example: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`it is not a number; e.g. ${example}`);
  return n;
};

/** `--starts ISO` or `--starts-in seconds` (from `now`), whichever was given, as an ISO instant. */
export const instant = (now: number, iso: string | undefined, inS: number | undefined, fallbackS?: number): string | undefined => {
  if (iso !== undefined) return iso;
  const s = inS ?? fallbackS;
  return s === undefined ? undefined : new Date(now + s * 1000).toISOString();
};

export const defined = <T extends Record<string, unknown>>(x: T) =>
  Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as Partial<T>;

const valueAt = (body: unknown, path: PropertyKey[]) =>
  path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined), body);
const lower = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/**
 * Checks `body` with the server's own schema. Each issue becomes one line naming what is wrong
 * and what would be right: `--stock -5: too small: expected number to be >=1; e.g. --stock 100`.
 * `source` names a file the body came from (its JSON paths are shown instead of flags).
 */
export function check<S extends z.ZodType>(schema: S, body: unknown, source?: string): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const path = i.path.map(String).join(".");
    const f = source ? undefined : FLAGS[path];
    const what = source ? `${source}: ${path || "the sale"}` : (f?.flag ?? (path || "arguments"));
    const value = valueAt(body, i.path);
    const eg = f ? `; e.g. ${f.example}` : "";
    if (value === undefined && path) return `${what} is required${eg}`;
    const message = i.code === "invalid_union" && f?.invalid ? f.invalid : lower(i.message);
    return `${what}${value === undefined || source ? "" : ` ${JSON.stringify(value)}`}: ${message}${eg}`;
  });
  throw new UsageError(lines.join("\n✗ "));
}

/** The admin token: --token, else ADMIN_TOKEN, else the project's .dev.vars (npm start writes it). */
export function adminToken(given: string | undefined): string | undefined {
  if (given) return given;
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  const m = existsSync(".dev.vars") ? /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(".dev.vars", "utf8")) : null;
  return m?.[1]?.trim() || undefined;
}

/** Headers of a Cloudflare Access service token (Access turns them into its JWT for the Worker). */
export function accessHeaders(id: string | undefined, secret: string | undefined): Record<string, string> {
  if (!id && !secret) return {};
  if (!id || !secret)
    throw new UsageError(
      "a Cloudflare Access service token needs both --access-id and --access-secret (or CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET)",
    );
  return { "cf-access-client-id": id, "cf-access-client-secret": secret };
}

/** A JSON file of a sale's config (`create --file`). */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--file ${file}: not JSON (${(e as Error).message})`);
  }
}
