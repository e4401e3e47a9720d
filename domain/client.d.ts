// Types for client.js. Answer bodies are the API's JSON (`any` here): their shapes are the
// server's zod schemas, not repeated by hand.

/**
 * What a transport is given: the headers and body the client built, plus the per-call options
 * `O` of its caller (e.g. the page's `retries`, the rehearsal's `urgent`, the tests' `env`).
 */
export type TransportInit<O = object> = Partial<O> & { headers: Record<string, string>; body?: string };

/** A fetch Response, or its parts; any other field (e.g. a timing) is passed on to the answer. */
export type TransportAnswer =
  | Response
  | { status: number; headers?: Headers | Record<string, string | string[] | undefined>; text?: string; [extra: string]: unknown };

/** Sends one request; throws when the server cannot be reached (as fetch does). */
export type Transport<O = object> = (method: string, path: string, init: TransportInit<O>) => Promise<TransportAnswer>;

/** An answer: the status, the headers, and the JSON body (or `{ error: "bad_response", message, raw }`). */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON; its shapes are the server's zod schemas
  body: any;
  [extra: string]: unknown;
}

/** Per-call options: extra headers (they win over the client's), and the transport's own options. */
export type CallOptions<O = object> = Partial<O> & { headers?: Record<string, string | undefined> };

export type RequestOptions<O = object> = CallOptions<O> & {
  /** The bearer token (a session, or the admin token). */
  token?: string;
  /** Sent as a JSON body (with content-type). */
  json?: unknown;
  /** Sent as it is (a raw body, e.g. for bad-input tests). */
  body?: string;
};

export interface AdmitOptions {
  /** The proof-of-work solver (default: pow.js's solve). */
  solve?: (nonce: string, bits: number) => Promise<string>;
  turnstile?: string;
  /** The shopper's ticket from an earlier answer: queueing again with it keeps the place. */
  ticket?: string;
  minPollMs?: number;
  maxPollMs?: number;
  maxPolls?: number;
  /** How often to queue again when the time to claim ran out (`expired`). Default 2. */
  maxRejoins?: number;
  /** false: a pre-queue place (drawn when the sale opens) is an error instead of a wait. */
  waitForOpening?: boolean;
}

export interface AdminClient<O = object> {
  list(options?: CallOptions<O>): Promise<Answer>;
  createSale(config: unknown, options?: CallOptions<O>): Promise<Answer>;
  stats(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  series(saleId: string, since?: number, options?: CallOptions<O>): Promise<Answer>;
  update(saleId: string, patch: unknown, options?: CallOptions<O>): Promise<Answer>;
  pause(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  resume(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  close(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  restock(saleId: string, qty: unknown, options?: CallOptions<O>): Promise<Answer>;
  reconcile(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  resendEvents(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  ledger(options?: CallOptions<O>): Promise<Answer>;
  payments(options?: CallOptions<O>): Promise<Answer>;
  faults(body: unknown, options?: CallOptions<O>): Promise<Answer>;
}

export interface Client<O = object> {
  request(method: string, path: string, options?: RequestOptions<O>): Promise<Answer>;
  /** With `identity` (the shop's signed assertion): a session for that account; else anonymous. */
  session(options?: CallOptions<O> & { identity?: string; turnstile?: string }): Promise<Answer>;
  sale(saleId: string, options?: CallOptions<O>): Promise<Answer>;
  challenge(saleId: string, token: string, options?: CallOptions<O>): Promise<Answer>;
  queue(
    saleId: string,
    token: string,
    solved: { challenge: string; solution: string; turnstile?: string; ticket?: string },
    options?: CallOptions<O>,
  ): Promise<Answer>;
  poll(saleId: string, token: string, ticket: string, options?: CallOptions<O>): Promise<Answer>;
  claim(saleId: string, token: string, claim: { pass?: string; key: string; qty?: number }, options?: CallOptions<O>): Promise<Answer>;
  hold(holdId: string, token: string, options?: CallOptions<O>): Promise<Answer>;
  holds(saleId: string, token: string, options?: CallOptions<O>): Promise<Answer>;
  cancel(holdId: string, token: string, options?: CallOptions<O>): Promise<Answer>;
  pay(holdId: string, token: string, paymentMethod: string, options?: CallOptions<O>): Promise<Answer>;
  order(orderId: string, token: string, options?: CallOptions<O>): Promise<Answer>;
  /** Challenge → solve → queue: the queue's answer (throws an ApiError if no challenge is given). */
  join(
    saleId: string,
    token: string,
    how?: Pick<AdmitOptions, "solve" | "turnstile" | "ticket">,
    options?: CallOptions<O>,
  ): Promise<Answer>;
  /** Challenge → solve → queue → poll until admitted: the answer with the pass (`body.pass`). */
  admit(saleId: string, token: string, how?: AdmitOptions, options?: CallOptions<O>): Promise<Answer>;
  admin(adminToken?: string): AdminClient<O>;
}

export function createClient<O = object>(o: {
  transport: Transport<O>;
  /** Sent with every request: the caller's User-Agent and the like. */
  headers?: Record<string, string>;
  /** Sees every answer (e.g. a script that prints each step). */
  onAnswer?: (method: string, path: string, answer: Answer) => void;
}): Client<O>;

export function fetchTransport(base?: string, init?: RequestInit): Transport;

export class ApiError extends Error {
  constructor(what: string, answer: Answer);
  answer: Answer;
}
