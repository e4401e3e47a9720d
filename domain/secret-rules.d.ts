export type SecretName =
  | "ADMIN_TOKEN"
  | "TOKEN_SECRET"
  | "TOKEN_SECRET_PREVIOUS"
  | "SHOP_IDENTITY_SECRET"
  | "SHOP_WEBHOOK_SECRET"
  | "SHOP_WEBHOOK_SECRET_PREVIOUS";
export const SECRET_NAMES: SecretName[];
export function secretProblem(name: SecretName, value: string | undefined): string | null;
