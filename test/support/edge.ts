import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { solve } from "../../domain/pow.js";
import { room } from "../../domain/objects";
import { idemKey } from "./shoppers";
import { api, call, sleep } from "./worker";

export const EDGE_CACHE_MS = Number(env.EDGE_CACHE_MS);
export const roomStats = (sale: string) => room(env, sale).stats();
export const counters = async (sale: string) => (await roomStats(sale)).counters;

type PerRequest = { env?: Partial<Env>; headers?: Record<string, string> };
export const challenge = (sale: string, token: string, opts: PerRequest = {}) => api.challenge(sale, token, opts);
export const submit = (sale: string, token: string, body: Record<string, unknown>, opts: PerRequest = {}) =>
  call("POST", `/api/sales/${sale}/queue`, { token, body, env: opts.env, headers: opts.headers });
export const poll = (sale: string, token: string, ticket: string) => api.poll(sale, token, ticket);
export const claimWith = (sale: string, token: string, pass?: string, headers: Record<string, string> = {}) =>
  api.claim(sale, token, { pass, key: idemKey() }, { headers });

/** A challenge, solved. */
export async function solved(sale: string, token: string, opts: { env?: Partial<Env> } = {}) {
  const ch = await challenge(sale, token, opts);
  expect(ch.status).toBe(200);
  return { ...ch.body, solution: await solve(ch.body.nonce, ch.body.bits) } as {
    challenge: string;
    nonce: string;
    bits: number;
    solution: string;
  };
}

/** A refusal at the edge: the status, the error code and a message that says something. */
export function expectRefused(res: { status: number; body: any }, status: number, error: string) {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(typeof res.body.message).toBe("string");
  expect(res.body.message.length).toBeGreaterThan(10);
}

/**
 * Waits so that a burst lands inside one rate-limit window: the platform's limiter counts in fixed
 * 10 s windows of real time (its own clock, not the one tests move), so this wait is real.
 */
export async function alignToWindow(needMs = 5000) {
  const left = 10_000 - (Date.now() % 10_000);
  if (left < needMs) await sleep(left + 100);
}

/** What the fake siteverify (vitest.config.ts) has been sent, by every test file. */
export const siteverifySeen = async (): Promise<Record<string, string>[]> => (await fetch("https://siteverify.test/requests")).json();
