import { createRoute } from "@hono/zod-openapi";
import { newUserId, randomHex } from "../../domain/ids";
import { networkOf } from "../../domain/network";
import { SessionAnswer, SessionBody } from "../../domain/schemas/answers";
import { notePressure } from "../edge/pressure";
import { body, documented, json, mount, refusals } from "../lib/openapi";
import { shopAccount } from "../lib/shop-identity";
import { signToken } from "../lib/tokens";
import { verifyTurnstile } from "../lib/turnstile";
import { valid } from "../lib/validate";
import { botCheck } from "../middleware/bot-check";
import { limitByIp } from "../middleware/rate-limit";

const start = createRoute({
  method: "post",
  path: "/",
  tags: ["shopper"],
  summary: "Start a session: the shop's account (an identity assertion), or anonymous",
  description:
    "Every shopper route needs it, as `Authorization: Bearer <token>`. A sale that needs an account (`identity: account`) " +
    "accepts only sessions made with the shop's signed identity assertion; every session of one account is the same shopper.",
  request: { body: body(SessionBody) },
  middleware: [limitByIp, botCheck, valid("json", SessionBody)],
  responses: {
    201: json(SessionAnswer, "a signed session token"),
    ...refusals(
      "rate_limited",
      "bot_suspected",
      "invalid_request",
      "unsupported_media_type",
      "identity_invalid",
      "turnstile_failed",
      "turnstile_unavailable",
      "unavailable",
    ),
  },
});

/** A short, stable digest of a network key: what an anonymous session carries of it. */
async function digest(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...d.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `POST /api/session`. Sessions are free to make, so nothing rides on them alone: an account
 * session is the shop's account (however many there are of it), and an anonymous one carries the
 * network it was made from, which is what an anonymous sale counts (src/edge/identity.ts). Making
 * one passes the User-Agent check, Turnstile when it is on, and the per-network rate limit, and
 * raises that network's proof-of-work price (src/edge/pressure.ts).
 */
export const session = documented();
mount(session, start, async (c) => {
  const { identity, turnstile } = c.req.valid("json");
  const ip = c.req.header("cf-connecting-ip");
  const net = networkOf(ip).key;
  await verifyTurnstile(c.env, turnstile, ip, `session-${randomHex(8)}`);
  notePressure(net);
  const acct = identity ? await shopAccount(c.env, identity) : null;
  const claims = acct ? { sub: `acct:${acct}`, acct } : { sub: newUserId(), net: await digest(net) };
  const { token, expiresAt } = await signToken(c.env, "session", claims);
  return c.json({ token, user_id: claims.sub, account: acct, expires_at: new Date(expiresAt).toISOString() }, 201);
});
