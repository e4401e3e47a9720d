/** Hono's view of this Worker: bindings from wrangler.toml, and what middleware puts on `c`. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** The shopper, from a verified session token. */
    user: string;
    /** The claim's `Idempotency-Key`, checked. */
    idempotencyKey: string;
  };
};
