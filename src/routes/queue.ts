import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { identityIn } from "../edge/identity";
import { extraBits, notePressure } from "../edge/pressure";
import { countEdge, reportArrival, unreported } from "../edge/reports";
import { saleInfo, watermark } from "../edge/sale-info";
import { ApiError, refuseIf, unwrap } from "../lib/api-error";
import { ended } from "../../domain/claim-gate";
import * as fast from "../lib/fast-paths";
import { bucketAt, lineKey } from "../../domain/line";
import { checkSolution, issueChallenge } from "../lib/challenge";
import type { ClaimsOf } from "../../domain/schemas/tokens";
import { stableToken, verifyToken } from "../lib/tokens";
import { verifyTurnstile } from "../lib/turnstile";
import { valid } from "../lib/validate";
import { asShopper, body, documented, header, json, mount, refusals } from "../lib/openapi";
import { apiJson } from "../middleware/headers";
import { SHOPPER_REFUSALS, shopper } from "../middleware/shopper";
import { ChallengeAnswer, QueueAnswer } from "../../domain/schemas/answers";
import { QueueBody, type Watermark } from "../../domain/schemas/room";
import { standingOf } from "../edge/queue-status";
import { clientNetwork } from "../middleware/rate-limit";
import { SaleParam } from "./sales";
import { now as clockNow, isoAt } from "../../domain/clock";

type Ticket = ClaimsOf<"ticket">;
type C = Context<AppEnv>;

/**
 * The shopper's answer for a place in line: where they stand (edge/queue-status.ts, from the
 * cached watermark: no object hop) plus a ticket, renewed when its place or state changes and
 * every five minutes, and a pass once admitted. The pass is valid exactly until the shopper's time to
 * claim runs out (`pass_ttl_s` after admission), and the renewed ticket carries the admission
 * time, so no pass is ever issued after that.
 */
async function answer(c: C, sale: string, t: Pick<Ticket, "b" | "k" | "adm">, w: Watermark, sent?: string) {
  const place = { b: t.b, k: t.k };
  const { status, admittedAt, passUntil } = standingOf(place, t.adm, w, clockNow(), unreported(sale, place));
  const adm = admittedAt ?? undefined;
  // Re-served while the place and state are the same (lib/tokens.ts): a poll signs nothing new,
  // and usually hands back the very ticket it was sent.
  const claims = { sub: c.get("user"), sale, b: t.b, k: t.k, ...(adm ? { adm } : {}) };
  const ticket = await stableToken(c.env, "ticket", claims, {}, sent);
  const out: QueueAnswer = { ...status, ticket: ticket.token, ticket_expires_at: isoAt(ticket.expiresAt) };
  if (passUntil !== null) {
    const pass = await stableToken(c.env, "pass", { sub: c.get("user"), sale }, { until: passUntil });
    out.pass = pass.token;
    out.pass_expires_at = isoAt(pass.expiresAt);
  }
  return out;
}

/** The shopper's own ticket for this sale (X-Ticket, or `sent`: its text), or null. */
async function ticketOf(c: C, sale: string, sent = c.req.header("x-ticket")): Promise<Ticket | null> {
  const t = await verifyToken(c.env, "ticket", sent);
  return t && t.sub === c.get("user") && t.sale === sale ? t : null;
}

/** The sale's watermark; a sale without a configured room has no line (yet). */
async function lineOf(c: C, sale: string): Promise<Watermark> {
  const w = await watermark(c.env, sale);
  if (!w.configured) throw new ApiError("not_found", "this sale has no waiting room (was it created with POST /admin/sales?)");
  return w;
}

const challenge = createRoute({
  method: "post",
  path: "/{id}/challenge",
  tags: ["shopper"],
  summary: "A proof of work to solve before queueing",
  security: asShopper,
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam, fast.saleParam), shopper],
  responses: {
    200: json(ChallengeAnswer, "the challenge: find a solution with `bits` leading zero bits"),
    ...refusals("invalid_request", ...SHOPPER_REFUSALS, "not_found", "account_required", "sale_closed", "unavailable"),
  },
});

const join = createRoute({
  method: "post",
  path: "/{id}/queue",
  tags: ["shopper"],
  summary: "Join the line with a solved challenge",
  description:
    "Answered at the edge: the place is the arrival time (in 100 ms buckets; any time before the opening plus the sale's `lottery_s` is one bucket, a lottery) " +
    "and a key drawn from the shopper's identity. Queueing again with the ticket (`X-Ticket`) keeps the place (200).",
  security: asShopper,
  request: { params: SaleParam, body: body(QueueBody) },
  middleware: [valid("param", SaleParam, fast.saleParam), shopper, valid("json", QueueBody, fast.queueBody)],
  responses: {
    201: json(QueueAnswer, "a place in line (or in the pre-queue, drawn at the start)"),
    200: json(QueueAnswer, "the place this shopper already has"),
    ...refusals(
      "invalid_request",
      "unsupported_media_type",
      ...SHOPPER_REFUSALS,
      "pow_failed",
      "account_required",
      "turnstile_failed",
      "not_found",
      "sale_closed",
      "turnstile_unavailable",
      "unavailable",
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
  middleware: [valid("param", SaleParam, fast.saleParam), shopper],
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
  refuseIf(ended(sale.status));
  identityIn(c.env, sale, c.get("user"), c.get("session")); // an account sale tells an anonymous session now
  const bits = sale.pow_difficulty + extraBits(clientNetwork(c));
  return c.json(await issueChallenge(c.env, c.get("user"), id, bits), 200);
});

/**
 * Joining is answered here, at the edge: the place is the arrival's bucket and the identity's
 * key (domain/line.ts), signed into the ticket, and reported to the room in the next batch. A
 * shopper who sends their ticket keeps their place. A solved challenge is not spent: replaying it
 * gives the same identity the same key, which the room counts once (so it buys nothing).
 */
mount(queue, join, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const sale = unwrap(await saleInfo(c.env, id));
  refuseIf(ended(sale.status));
  const identity = identityIn(c.env, sale, c.get("user"), c.get("session"));
  const solved = await checkSolution(c.env, body.challenge, body.solution, c.get("user"), id);
  if (!solved) {
    countEdge(c, id, "rejected_pow");
    throw new ApiError(
      "pow_failed",
      "the challenge is invalid, expired, not yours or not solved: get a new one (POST /api/sales/:id/challenge)",
    );
  }
  const ip = c.req.header("cf-connecting-ip");
  try {
    await verifyTurnstile(c.env, body.turnstile, ip, solved.nonce);
  } catch (e) {
    countEdge(c, id, "rejected_turnstile");
    throw e;
  }
  const w = await lineOf(c, id);
  const held = await ticketOf(c, id);
  if (held && standingOf({ b: held.b, k: held.k }, held.adm, w, clockNow()).status.state !== "expired") {
    return apiJson(await answer(c, id, held, w), 200);
  }
  const place = { b: bucketAt(clockNow(), w.starts_at, w.draw_at), k: await lineKey(w.salt, identity) };
  reportArrival(c, id, place);
  notePressure(clientNetwork(c));
  return apiJson(await answer(c, id, place, w), 201);
});

mount(queue, poll, async (c) => {
  const { id } = c.req.valid("param");
  const sent = c.req.header("x-ticket");
  const t = await ticketOf(c, id, sent);
  if (!t) {
    throw new ApiError(
      "forbidden",
      "the ticket (`X-Ticket`) is missing, invalid, expired or not yours: queue again (POST /api/sales/:id/queue, with your ticket if you still have it, keeps your place)",
    );
  }
  return apiJson(await answer(c, id, t, await lineOf(c, id), sent), 200);
});
