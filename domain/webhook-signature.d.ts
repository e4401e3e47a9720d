export const SIGNATURE_HEADER: "flashsale-signature";
export const DEFAULT_TOLERANCE_S: number;
export function signatureHeader(secrets: string[], body: string, t: number): Promise<string>;
export function verifyShopWebhook(
  secret: string | string[],
  header: string | null | undefined,
  body: string,
  toleranceS: number,
  nowMs: number,
): Promise<{ ok: true; event: unknown } | { ok: false; reason: string }>;
