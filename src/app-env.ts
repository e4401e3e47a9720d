import type { SaleView } from "../domain/schemas/sale";

/** Hono's view of this Worker: bindings from wrangler.toml, and what middleware puts on `c`. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** The shopper, from a verified session token: who owns their holds and orders. */
    user: string;
    /** The rest of the session: the shop's account, or the network it was made from. */
    session: { acct?: string; net?: string };
    /** The claim's `Idempotency-Key`, checked. */
    idempotencyKey: string;
    /** The sale a claim is for, as the edge has it cached, and who the shopper is in it (edge/identity.ts). */
    sale: SaleView;
    identity: string;
    /** The claim's turn: when its waiting-room pass ends (durable-objects/inventory/turns.ts). */
    turn: number;
  };
};
