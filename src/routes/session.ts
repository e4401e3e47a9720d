import { createRoute } from "@hono/zod-openapi";
import { newUserId } from "../../domain/ids";
import { SessionAnswer } from "../../domain/schemas/answers";
import { documented, json, mount, refusals } from "../lib/openapi";
import { signToken } from "../lib/tokens";
import { limitByIp } from "../middleware/rate-limit";

const start = createRoute({
  method: "post",
  path: "/",
  tags: ["shopper"],
  summary: "Start an anonymous session",
  description: "Every shopper route needs it, as `Authorization: Bearer <token>`.",
  middleware: [limitByIp],
  responses: { 201: json(SessionAnswer, "a signed session token"), ...refusals("rate_limited") },
});

/** `POST /api/session`: an anonymous shopper identity, signed. */
export const session = documented();
mount(session, start, async (c) => {
  const user = newUserId();
  const { token, expiresAt } = await signToken(c.env, "session", { sub: user });
  return c.json({ token, user_id: user, expires_at: new Date(expiresAt).toISOString() }, 201);
});
