import { z } from "zod";

/**
 * Runtime settings from `[vars]` in wrangler.toml. The runtime hands every var over as a string;
 * this schema is the one typed view of them (code reads vars only through `settings(env)`). Parsed
 * once per isolate so a typo in a var fails loudly at the first request instead of acting as NaN
 * later. Secrets are checked where they are used (domain/secrets.ts).
 */
const num = (fallback: number) => z.coerce.number().finite().nonnegative().default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(["on", "off", "true", "false", "1", "0", ""])
    .default(fallback ? "on" : "off")
    .transform((v) => v === "on" || v === "true" || v === "1");

export const SettingsSchema = z.object({
  // Where this Worker runs. Production is the default, so a deploy that forgets to say is safe.
  DEPLOYMENT: z.enum(["local", "staging", "production"]).default("production"),
  GATEWAY: z.enum(["simulated", "stripe"]).default("simulated"),
  GATEWAY_LATENCY_MS: num(40),
  GATEWAY_DECLINE_RATE: num(0.05).pipe(z.number().max(1)),
  GATEWAY_TIMEOUT_RATE: num(0.02).pipe(z.number().max(1)),
  GATEWAY_LATE_SUCCESS_RATE: num(0.5).pipe(z.number().max(1)),
  GATEWAY_LATE_MS: num(3000),
  GATEWAY_DUPLICATE_RATE: num(0.02).pipe(z.number().max(1)),
  // Stripe (GATEWAY = "stripe"): the API elsewhere than api.stripe.com (a fake, for tests and
  // rehearsals only: refused in production), the publishable key the page's Payment Element uses,
  // and how old a webhook's signed timestamp may be. The secret key and the webhook signing
  // secrets are secrets (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET_PREVIOUS).
  STRIPE_API_BASE: z.string().url().optional(),
  STRIPE_PUBLISHABLE_KEY: z
    .string()
    .regex(/^(pk_(test|live)_[A-Za-z0-9]+)?$/, "a Stripe publishable key (pk_test_… or pk_live_…)")
    .default(""),
  // (0 would switch the timestamp check off in the stripe package: at least a second.)
  STRIPE_WEBHOOK_TOLERANCE_S: num(300).pipe(z.number().min(1)),
  // The payment pacer (durable-objects/payment-pacer.ts): one per Stripe account, named
  // STRIPE_ACCOUNT (or a hash of the secret key). Its rates are Stripe's limits (requests/s per
  // endpoint; for the whole account, unset: 100 with a live key, 25 with a test key) less
  // STRIPE_RATE_HEADROOM (a fraction kept for the shop's own Stripe traffic and refunds). A pay
  // request whose turn is within PAY_QUEUE_INLINE_MS waits for it; later ones are queued (202).
  STRIPE_ACCOUNT: z.string().default(""),
  STRIPE_RATE_ENDPOINT: num(25).pipe(z.number().min(1)),
  STRIPE_RATE_ACCOUNT: z.coerce.number().finite().min(1).optional(),
  STRIPE_RATE_HEADROOM: num(0.2).pipe(z.number().max(0.9)),
  PAY_QUEUE_INLINE_MS: num(1000),
  PAY_TIMEOUT_MS: num(5000),
  PAY_RETRY_MS: num(2000),
  PAY_GIVE_UP_S: num(900),
  FLUSH_DELAY_MS: num(250),
  FLUSH_BATCH: z.coerce.number().int().min(1).max(100).default(50),
  GROUP_COMMIT: flag(true),
  ALLOW_FAULTS: flag(false),
  // A deliberate bug, for proving the model test and the soak can fail (docs/testing.md,
  // "Trusting a green run"); refused in production like the other local conveniences.
  MUTATION: z.enum(["", "skip-stock-check", "confirm-twice", "drop-outbox"]).default(""),
  // A sign-in page that vouches for any name: local demos of account sales only.
  DEMO_SIGNIN: flag(false),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  // The edge: how long an isolate trusts its cached sale info and admission watermark, and how
  // often it hands its counters to the waiting room.
  EDGE_CACHE_MS: num(1000),
  COUNTER_FLUSH_MS: num(1000),
  // A line's arrival bucket is served once every isolate has reported it: COUNTER_FLUSH_MS plus
  // this much for the report's trip and clocks a little apart.
  LINE_SLACK_MS: num(500),
  // Refuse requests with no User-Agent or a known automation one (curl, headless browsers, …).
  BOT_UA_CHECK: flag(true),
  TURNSTILE_SITE_KEY: z.string().default(""),
  // The shop's identity (account sales): assertions are JWTs with this audience (and issuer, if
  // set), signed with the SHOP_IDENTITY_SECRET secret (HS256) or a key of the shop's JWKS
  // (RS256/ES256). The shopper page sends shoppers to SHOP_SIGNIN_URL to sign in.
  SHOP_JWKS_URL: z.url().optional(),
  SHOP_IDENTITY_AUDIENCE: z.string().min(1).default("flashsale"),
  SHOP_IDENTITY_ISSUER: z.string().min(1).optional(),
  SHOP_SIGNIN_URL: z.string().default(""),
  TURNSTILE_URL: z.string().url().default("https://challenges.cloudflare.com/turnstile/v0/siteverify"),
  TURNSTILE_TIMEOUT_MS: num(3000),
  // Cloudflare Access in front of /admin/* (both set, or neither): the team domain
  // ("myteam.cloudflareaccess.com") and the application's Audience (AUD) tag. When set, every
  // admin request needs the valid Access JWT Cloudflare adds (src/middleware/admin-auth/access.ts).
  ACCESS_TEAM_DOMAIN: z.string().trim().default(""),
  ACCESS_AUD: z.string().trim().default(""),
  // The shop's webhooks (docs/events.md): where order events are POSTed (empty: off), signed with
  // the SHOP_WEBHOOK_SECRET secret. A try gives up after SHOP_WEBHOOK_TIMEOUT_MS; the next waits
  // SHOP_WEBHOOK_RETRY_MS, doubling with jitter (at most an hour); an event not delivered after
  // SHOP_WEBHOOK_GIVE_UP_S is a dead letter, until the operator resends it.
  SHOP_WEBHOOK_URL: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
  SHOP_WEBHOOK_TIMEOUT_MS: num(10_000).pipe(z.number().min(1)),
  SHOP_WEBHOOK_RETRY_MS: num(1000).pipe(z.number().min(1)),
  SHOP_WEBHOOK_GIVE_UP_S: num(3 * 86_400),
});
export type Settings = z.infer<typeof SettingsSchema>;

const cache = new WeakMap<object, Settings>();

/** The parsed settings for this `env` (cached: env objects live as long as the isolate). */
export function settings(env: object): Settings {
  let s = cache.get(env);
  if (!s) {
    const parsed = SettingsSchema.safeParse(env);
    if (!parsed.success) {
      throw new Error(`wrangler.toml [vars] are invalid: ${z.prettifyError(parsed.error)}`);
    }
    s = parsed.data;
    cache.set(env, s);
  }
  return s;
}

/**
 * Why this Worker must not serve, or null. Local conveniences (test cards, fault injection, the
 * demo sign-in) are refused in production: a staging deploy opts in with DEPLOYMENT = "staging".
 */
export function deploymentProblem(s: Settings): string | null {
  if (s.DEPLOYMENT !== "production") return null;
  const on = [
    s.GATEWAY === "simulated" && 'GATEWAY = "simulated" (test cards: orders would be confirmed without money)',
    s.STRIPE_API_BASE && `STRIPE_API_BASE = "${s.STRIPE_API_BASE}" (payments would go to a stand-in, not to Stripe)`,
    s.ALLOW_FAULTS && "ALLOW_FAULTS (anyone with the admin token could break the sale)",
    s.DEMO_SIGNIN && "DEMO_SIGNIN (anyone could sign in as any account)",
    notTheShop(s.SHOP_WEBHOOK_URL) && `SHOP_WEBHOOK_URL = "${s.SHOP_WEBHOOK_URL}" (orders would go to a local stand-in, not to the shop)`,
    s.MUTATION && `MUTATION = "${s.MUTATION}" (a deliberate bug for testing the tests)`,
  ].filter(Boolean);
  if (on.length === 0) return null;
  return `refusing to serve in production with ${on.join(", ")}: fix [vars] in wrangler.toml, or deploy a staging Worker with \`wrangler deploy --env staging\``;
}

/** A webhook URL that cannot be a deployed shop: plain http, or a local, private or reserved test host. */
export function notTheShop(url: string): boolean {
  if (!url) return false;
  const { protocol, hostname } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  return (
    protocol !== "https:" ||
    /^(localhost|0\.0\.0\.0|::1?|127\.\d+\.\d+\.\d+|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)$/.test(host) ||
    /\.(test|localhost|local|example|invalid|internal)$/.test(host)
  );
}
