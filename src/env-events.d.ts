// The order events' Queue producer is optional (wrangler.toml has it commented out), so `wrangler
// types` does not generate it: declared here, as possibly absent.
declare namespace Cloudflare {
  interface Env {
    ORDER_EVENTS?: Queue;
  }
}
