/**
 * The simulated gateway's cards. A test card token (tok_ok, tok_visa, tok_decline, …: see
 * gateway-simulator.ts) is the shopper's own card: two shoppers paying with tok_ok pay with two
 * different cards. A suffix names a physical card, so that one card can be shared on purpose:
 *
 *   tok_ok.card-7       the card "card-7", known before the charge
 *   tok_ok.late-card-7  the same card, but the gateway names it only with the charge (as a
 *                       provider that fingerprints cards when it charges them)
 */
const SUFFIX = /^([^.]+)(?:\.(late-)?([A-Za-z0-9_:-]{1,40}))?$/;

/** The token that decides the outcome (the suffix removed). */
export const behaviourOf = (method: string) => SUFFIX.exec(method)?.[1] ?? method;

/** The card's fingerprint as the gateway would know it before the charge (null: only with it). */
export function fingerprintBefore(method: string, payer: string): string | null {
  const m = SUFFIX.exec(method);
  if (!m?.[3]) return `sim:own:${payer}`;
  return m[2] ? null : `sim:${m[3]}`;
}

/** The card's fingerprint once it has been charged (a late card reveals itself here). */
export function fingerprintAfter(method: string, payer: string): string {
  const m = SUFFIX.exec(method);
  return m?.[3] ? `sim:${m[3]}` : `sim:own:${payer}`;
}
