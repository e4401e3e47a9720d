import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { newUserId } from "../../domain/ids";
import { signToken } from "../lib/tokens";
import { limitByIp } from "../middleware/rate-limit";

/** `POST /api/session`: an anonymous shopper identity, signed; every shopper route needs it. */
export const session = new Hono<AppEnv>().post("/", limitByIp, async (c) => {
  const user = newUserId();
  const { token, expiresAt } = await signToken(c.env, "session", { sub: user });
  return c.json({ token, user_id: user, expires_at: new Date(expiresAt).toISOString() }, 201);
});
