// Which values may serve as the Worker's secrets: one rule for the Worker (domain/secrets.ts,
// which refuses and logs) and for `npm start` (scripts/lib/dev-vars.mjs, which replaces a refused
// local value with a random one). Plain ESM, so Node scripts load it without a build.

const MIN_LENGTH = {
  ADMIN_TOKEN: 24,
  TOKEN_SECRET: 32,
  TOKEN_SECRET_PREVIOUS: 32,
  SHOP_IDENTITY_SECRET: 32,
  SHOP_WEBHOOK_SECRET: 32,
  SHOP_WEBHOOK_SECRET_PREVIOUS: 32,
};
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

/** The secrets the rule covers, with the length each needs. */
export const SECRET_NAMES = Object.keys(MIN_LENGTH);

/** Why `value` may not be used as the secret `name`, or null if it may. */
export function secretProblem(name, value) {
  if (!value) return `${name} is not set`;
  if (value.length < MIN_LENGTH[name]) return `${name} is shorter than ${MIN_LENGTH[name]} characters`;
  const plain = value.trim().toLowerCase();
  if (PUBLISHED.some((p) => plain.includes(p))) return `${name} is a published example value`;
  if (new Set(value).size < MIN_DISTINCT) return `${name} has fewer than ${MIN_DISTINCT} different characters`;
  return null;
}
