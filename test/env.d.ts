/** Bindings only the tests have (vitest.config.ts), on both names the generated types give `Env`. */
interface TestBindings {
  TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  // Optional settings tests set per request.
  SHOP_JWKS_URL?: string;
  SHOP_IDENTITY_ISSUER?: string;
  /** The private JWK the fake Cloudflare Access team signs with (vitest.config.ts). */
  TEST_ACCESS_KEY: string;
  /** The example order consumer (examples/order-consumer/), in the events project only. */
  ORDER_CONSUMER?: Fetcher;
}
declare namespace Cloudflare {
  interface Env extends TestBindings {}
}
interface Env extends TestBindings {}
