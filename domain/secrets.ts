import { log } from "./log";
import { secretProblem, type SecretName } from "./secret-rules.js";

export { secretProblem, type SecretName };

/**
 * The Worker's secrets are checked before use: a key that anyone can read (an example value
 * published with this project, in any spelling) or one too short or too plain to resist guessing
 * is refused, with a logged error that names the fix. A refused TOKEN_SECRET stops the shop (503);
 * a refused ADMIN_TOKEN closes the admin API; a refused TOKEN_SECRET_PREVIOUS is not accepted.
 */
const FIX: Record<SecretName, string> = {
  ADMIN_TOKEN:
    "set a random one: `openssl rand -hex 24 | npx wrangler secret put ADMIN_TOKEN` (locally, `npm start` replaces a refused one in .dev.vars)",
  TOKEN_SECRET:
    "set a random one: `openssl rand -hex 32 | npx wrangler secret put TOKEN_SECRET` (locally, `npm start` replaces a refused one in .dev.vars)",
  SHOP_IDENTITY_SECRET:
    "set the key the shop signs identity assertions with (random, 32+ characters): `npx wrangler secret put SHOP_IDENTITY_SECRET` (locally, `npm start` generates one), or use SHOP_JWKS_URL",
  SHOP_WEBHOOK_SECRET:
    "set the key order events are signed with (random, 32+ characters), and give it to the shop: `openssl rand -hex 32 | npx wrangler secret put SHOP_WEBHOOK_SECRET` (docs/events.md)",
  SHOP_WEBHOOK_SECRET_PREVIOUS:
    "only set it to the SHOP_WEBHOOK_SECRET you are rotating away from, while the shop moves to the new one, then delete it",
  TOKEN_SECRET_PREVIOUS:
    "only ever set it to a TOKEN_SECRET you used before (random, 32+ characters), or delete it: `npx wrangler secret delete TOKEN_SECRET_PREVIOUS`",
};

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
