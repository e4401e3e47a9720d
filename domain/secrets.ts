import { log } from "./log";

/**
 * The Worker's secrets are checked before use: a key that anyone can read (an example value
 * published with this project, in any spelling) or one too short or too plain to resist guessing
 * is refused, with a logged error that names the fix. A refused TOKEN_SECRET stops the shop (503);
 * a refused ADMIN_TOKEN closes the admin API; a refused TOKEN_SECRET_PREVIOUS is not accepted.
 */
export type SecretName = "ADMIN_TOKEN" | "TOKEN_SECRET" | "TOKEN_SECRET_PREVIOUS";

const MIN_LENGTH: Record<SecretName, number> = { ADMIN_TOKEN: 24, TOKEN_SECRET: 32, TOKEN_SECRET_PREVIOUS: 32 };
/** Fewer different characters than this is a pattern, not a key ("aaaa…", "0123456789…"). */
const MIN_DISTINCT = 10;

/** Values that were ever published as examples (compared trimmed, case-insensitive, as substrings). */
const PUBLISHED = [
  "dev-admin-token",
  "dev-token-secret-change-me",
  "test-admin-token-0123456789",
  "test-token-secret-0123456789abcdef",
  "change-me",
  "changeme",
  "0123456789abcdef0123456789",
];

const FIX: Record<SecretName, string> = {
  ADMIN_TOKEN: "set a random one: `openssl rand -hex 24 | npx wrangler secret put ADMIN_TOKEN` (locally: delete it from .dev.vars and run `npm start`, which generates one)",
  TOKEN_SECRET: "set a random one: `openssl rand -hex 32 | npx wrangler secret put TOKEN_SECRET` (locally: delete it from .dev.vars and run `npm start`, which generates one)",
  TOKEN_SECRET_PREVIOUS: "only ever set it to a TOKEN_SECRET you used before (random, 32+ characters), or delete it: `npx wrangler secret delete TOKEN_SECRET_PREVIOUS`",
};

/** Why `value` may not be used as `name`, or null if it may. */
export function secretProblem(name: SecretName, value: string | undefined): string | null {
  if (!value) return `${name} is not set`;
  if (value.length < MIN_LENGTH[name]) return `${name} is shorter than ${MIN_LENGTH[name]} characters`;
  const plain = value.trim().toLowerCase();
  if (PUBLISHED.some((p) => plain.includes(p))) return `${name} is a published example value`;
  if (new Set(value).size < MIN_DISTINCT) return `${name} has fewer than ${MIN_DISTINCT} different characters`;
  return null;
}

/** Verdicts by name and value: a secret is checked on every request that uses it. */
const verdicts = new Map<string, boolean>();

/**
 * The secret if it may be used, else null, after logging (once per isolate and value) an error
 * that says what is wrong and how to fix it.
 */
export function usableSecret(name: SecretName, value: string | undefined): string | null {
  const id = `${name}\u0000${value ?? ""}`;
  let usable = verdicts.get(id);
  if (usable === undefined) {
    const problem = secretProblem(name, value);
    usable = problem === null;
    if (verdicts.size >= 16) verdicts.clear(); // a handful of keys per isolate's life
    verdicts.set(id, usable);
    if (problem) log("error", "secret_refused", { secret: name, problem, fix: FIX[name] });
  }
  return usable ? (value ?? null) : null;
}
