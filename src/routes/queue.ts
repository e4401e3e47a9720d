import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { countEdge } from "../edge/counters";
import { rememberWatermark, saleInfo, watermark } from "../edge/sale-info";
import { ApiError, unwrap } from "../lib/api-error";
import { room } from "../../domain/objects";
import { checkSolution, issueChallenge } from "../lib/challenge";
import type { ClaimsOf } from "../../domain/schemas/tokens";
import { signToken, verifyToken } from "../lib/tokens";
import { verifyTurnstile } from "../lib/turnstile";
import { valid } from "../lib/validate";
import { asShopper, body, documented, header, json, mount, refusals } from "../lib/openapi";
import { SHOPPER_REFUSALS, shopper } from "../middleware/shopper";
import { ChallengeAnswer, QueueAnswer } from "../../domain/schemas/answers";
import { QueueBody, type Watermark } from "../../domain/schemas/room";
import { queueStatus } from "../edge/queue-status";
import { SaleParam } from "./sales";

type Ticket = ClaimsOf<"ticket">;
type C = Context<AppEnv>;

/**
 * The shopper's answer for a ticket: where they stand (from the ticket's rank and the cached
 * watermark: no object hop) plus a renewed ticket, and a pass once admitted. A pre-queue ticket
 * has no rank yet; the first poll after the opening asks the room for it, once.
 */
async function standing(c: C, sale: string, t: Pick<Ticket, "seq" | "pos">, fresh?: Watermark) {
  const now = Date.now();
  const w = fresh ?? (await watermark(c.env, sale));
  let pos = t.pos;
  if (pos === undefined && now >= w.starts_at) pos = unwrap(await room(c.env, sale).place(c.var.user)).rank ?? undefined;
  const status = queueStatus(pos, w, now);
  const ticket = await signToken(c.env, "ticket", { sub: c.var.user, sale, seq: t.seq, ...(pos !== undefined ? { pos } : {}) });
  const out: QueueAnswer = { ...status, ticket: ticket.token, ticket_expires_at: new Date(ticket.expiresAt).toISOString() };
  if (status.state === "admitted") {
    const pass = await signToken(c.env, "pass", { sub: c.var.user, sale });
    out.pass = pass.token;
    out.pass_expires_at = new Date(pass.expiresAt).toISOString();
  }
  return out;
}

const challenge = createRoute({
  method: "post",
  path: "/{id}/challenge",
  tags: ["shopper"],
  summary: "A proof of work to solve before queueing",
  security: asShopper,
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam), shopper],
  responses: {
    200: json(ChallengeAnswer, "the challenge: find a solution with `bits` leading zero bits"),
    ...refusals("invalid_request", ...SHOPPER_REFUSALS, "not_found", "sale_closed", "unavailable"),
  },
});

const join = createRoute({
  method: "post",
  path: "/{id}/queue",
  tags: ["shopper"],
  summary: "Join the line with a solved challenge",
  description: "Idempotent per shopper: queueing again keeps the place.",
  security: asShopper,
  request: { params: SaleParam, body: body(QueueBody) },
  middleware: [valid("param", SaleParam), shopper, valid("json", QueueBody)],
  responses: {
    201: json(QueueAnswer, "a place in line (or in the pre-queue, drawn at the start)"),
    200: json(QueueAnswer, "the place this shopper already has"),
    ...refusals(
      "invalid_request", "unsupported_media_type", ...SHOPPER_REFUSALS, "pow_failed",
      "turnstile_failed", "not_found", "sale_closed", "turnstile_unavailable", "unavailable",
    ),
  },
});

const poll = createRoute({
  method: "get",
  path: "/{id}/queue",
  tags: ["shopper"],
  summary: "Where the shopper stands; a pass once admitted",
  description: "Answered at the edge from the ticket and a cached watermark; poll every `refresh_s`.",
  security: asShopper,
  parameters: [header.ticket],
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam), shopper],
  responses: {
    200: json(QueueAnswer, "the place in line, a renewed ticket, and a pass once admitted"),
    ...refusals("invalid_request", ...SHOPPER_REFUSALS, "forbidden", "not_found", "unavailable"),
  },
});

/** Shopper flow before a claim: challenge → queue (ticket) → poll → pass. */
export const queue = documented();

mount(queue, challenge, async (c) => {
  const { id } = c.req.valid("param");
  const sale = unwrap(await saleInfo(c.env, id));
  if (sale.status === "closed") throw new ApiError("sale_closed", "the sale has ended");
  return c.json(await issueChallenge(c.env, c.var.user, id, sale.pow_difficulty), 200);
});

mount(queue, join, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const solved = await checkSolution(c.env, body.challenge, body.solution, c.var.user, id);
  if (!solved) {
    countEdge(c, id, "rejected_pow");
    throw new ApiError("pow_failed", "the challenge is invalid, expired, not yours or not solved: get a new one (POST /api/sales/:id/challenge)");
  }
  try {
    await verifyTurnstile(c.env, body.turnstile, c.req.header("cf-connecting-ip"), solved.nonce);
  } catch (e) {
    countEdge(c, id, "rejected_turnstile");
    throw e;
  }
  const joined = await room(c.env, id).join(c.var.user, solved.nonce, solved.expiresAt);
  if (!joined.ok && joined.error === "pow_failed") countEdge(c, id, "rejected_pow");
  const place = unwrap(joined);
  rememberWatermark(c.env, id, place.watermark);
  return c.json(await standing(c, id, { seq: place.seq, pos: place.rank ?? undefined }, place.watermark), place.created ? 201 : 200);
});

mount(queue, poll, async (c) => {
  const { id } = c.req.valid("param");
  const t = await verifyToken(c.env, "ticket", c.req.header("x-ticket"));
  if (!t || t.sub !== c.var.user || t.sale !== id) {
    throw new ApiError("forbidden", "the ticket (`X-Ticket`) is missing, invalid, expired or not yours: queue again (POST /api/sales/:id/queue keeps your place)");
  }
  return c.json(await standing(c, id, t), 200);
});
