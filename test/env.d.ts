declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** The private JWK the fake Cloudflare Access team signs with (vitest.config.ts). */
    TEST_ACCESS_KEY: string;
  }
}
