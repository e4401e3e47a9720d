// The page's globals that come from third-party scripts the page loads (typed loosely: the
// page uses a handful of calls, documented where it makes them).
interface Window {
  /** Stripe.js (https://js.stripe.com/v3), loaded only when a publishable key is configured. */
  Stripe?: (publishableKey: string) => any;
  /** Cloudflare Turnstile's script, loaded only when the sale has a site key. */
  turnstile?: any;
}
