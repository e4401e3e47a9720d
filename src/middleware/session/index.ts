import type { Context } from "hono";
import type { AppEnv } from "../../app-env";
import { ApiError } from "../../lib/api-error";
import { verifyToken } from "../../lib/tokens";

/** Bearer token from `Authorization`, or null when the header is absent or not a bearer. */
export const bearer = (header: string | undefined) => /^Bearer\s+(\S+)$/i.exec(header ?? "")?.[1] ?? null;

/**
 * Shopper routes need a signed session (`POST /api/session`), sent as `Authorization: Bearer`.
 * The verified user id is put on `c.get("user")` (not `c.var`, which copies every variable on each read); everything downstream trusts only that.
 */
export async function checkSession(c: Context<AppEnv>): Promise<void> {
  const token = bearer(c.req.header("authorization"));
  if (!token) throw new ApiError("unauthorized", "a session is required: POST /api/session, then send `Authorization: Bearer <token>`");
  const session = await verifyToken(c.env, "session", token);
  if (!session) throw new ApiError("unauthorized", "the session token is invalid or expired: get a new one from POST /api/session");
  c.set("user", session.sub);
  c.set("session", { ...(session.acct ? { acct: session.acct } : {}), ...(session.net ? { net: session.net } : {}) });
}
