// The page's globals that come from third-party scripts the page loads (typed loosely: the
// page uses a handful of calls, documented where it makes them).
interface StripeJs {
  elements(options: Record<string, unknown>): {
    create(kind: string, options?: Record<string, unknown>): { mount(el: string | Element): void };
  };
  confirmPayment(options: Record<string, unknown>): Promise<{ error?: { message?: string } }>;
  [method: string]: unknown;
}
interface Window {
  /** Stripe.js (https://js.stripe.com/v3), loaded only when a publishable key is configured. */
  Stripe?: (publishableKey: string) => StripeJs;
  /** Cloudflare Turnstile's script, loaded only when the sale has a site key. */
  turnstile?: {
    render(el: string | Element, options: Record<string, unknown>): string;
    reset(widgetId?: string): void;
    [method: string]: unknown;
  };
}
