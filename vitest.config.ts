import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * Tests run inside workerd with the real bindings from wrangler.toml: SQLite-backed Durable
 * Objects with real alarms, and a local D1 with the migrations applied (test/setup.ts).
 * Secrets and timings are set here so the suite never depends on a developer's .dev.vars, and
 * the payment timings are short so timeouts and give-ups happen within a test.
 */
export const TEST_BINDINGS = {
  ADMIN_TOKEN: "test-admin-token-0123456789",
  TOKEN_SECRET: "test-token-secret-0123456789abcdef0123456789",
  TOKEN_SECRET_PREVIOUS: "",
  TURNSTILE_SECRET: "",
  GATEWAY_LATENCY_MS: "5",
  GATEWAY_DECLINE_RATE: "0",
  GATEWAY_TIMEOUT_RATE: "0",
  GATEWAY_DUPLICATE_RATE: "0",
  GATEWAY_LATE_MS: "300",
  PAY_TIMEOUT_MS: "250",
  PAY_RETRY_MS: "100",
  PAY_GIVE_UP_S: "1",
  FLUSH_DELAY_MS: "0",
  LOG_LEVEL: "warn",
};

export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: { ...TEST_BINDINGS, TEST_MIGRATIONS: await readD1Migrations("./migrations") },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 30_000,
  },
}));
