import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { forgetEverything } from "../src/lib/isolate-state";
import { thawClock } from "./support/clock";

// Each runtime starts from a migrated, empty D1 (applying is idempotent: once per runtime).
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Files share a runtime (vitest's isolate: false): each starts with a cold edge, every
// isolate cache dropped, as a new isolate would, and a running clock (where an earlier file left
// it: it never goes back). Durable Objects and D1 rows of earlier files remain; every test names
// its own sales.
forgetEverything();
thawClock();
