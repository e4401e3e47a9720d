import { OpenAPIHono, type RouteConfig, type RouteHandler } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ERRORS, type ErrorCode } from "../../domain/result";
import { ErrorBodies } from "../../domain/schemas/errors";
import type { Validates } from "./validate";

/**
 * Routes described once, for both Hono and the OpenAPI document (built in src/routes/docs.ts).
 *
 * A route is a spec (createRoute from @hono/zod-openapi: method, path, request, responses, and the
 * middleware chain in the order it runs) and a handler typed by that spec: a handler can only
 * answer a status and a body the spec lists, which tsc checks (nothing is checked at run time).
 *
 * The library's own request validators are not used: they run after the whole chain and answer
 * 415 and 400 in their own way, while ours are placed in the chain (a claim checks its body
 * before the sale is loaded, and the pass after) and answer the API's errors (src/lib/validate.ts).
 * So `mount` registers the spec in the document and the chain on Hono itself, and refuses, at
 * start-up, a spec whose declared params, query or body are not the ones its chain validates.
 */
export const documented = () => new OpenAPIHono<AppEnv>();

// biome-ignore lint/suspicious/noExplicitAny: a route's middleware may be any of hono's handlers; what they validate is checked below
type Spec = RouteConfig & { middleware?: MiddlewareHandler<any, any, any>[] };

export function mount<R extends Spec>(app: OpenAPIHono<AppEnv>, spec: R, handler: RouteHandler<R, AppEnv>): void {
  const { middleware = [], hide, ...doc } = spec;
  checkValidation(spec, middleware);
  if (!hide) app.openAPIRegistry.registerPath({ ...doc, responses: { ...doc.responses, ...EVERY_ROUTE } });
  app.on([spec.method.toUpperCase()], [honoPath(spec)], ...(middleware as MiddlewareHandler[]), handler as MiddlewareHandler);
}

/**
 * Hono's path for the spec's `/{name}` one: `/:name`, or `/:name{a|b}` when the parameter is an
 * enum, so other words in that place go on to the next route (`POST /sales/:id/restock` is not
 * `/sales/:id/:action`).
 */
function honoPath(spec: Spec): string {
  const shape = (spec.request?.params as z.ZodObject | undefined)?.shape ?? {};
  return spec.path.replaceAll(/\{(\w+)\}/g, (_m, name: string) => {
    const p = shape[name];
    return p instanceof z.ZodEnum ? `:${name}{${p.options.join("|")}}` : `:${name}`;
  });
}

function checkValidation(spec: Spec, chain: NonNullable<Spec["middleware"]>): void {
  const declared: Partial<Record<Validates["target"], unknown>> = {
    param: spec.request?.params,
    query: spec.request?.query,
    json: (spec.request?.body?.content["application/json"] as { schema?: unknown } | undefined)?.schema,
  };
  const checked = chain.flatMap((m) => (m as Partial<Record<"validates", Validates>>).validates ?? []);
  for (const target of Object.keys(declared) as Validates["target"][]) {
    const v = checked.filter((c) => c.target === target);
    if (declared[target] !== (v.length === 1 ? v[0]!.schema : undefined) || v.length > 1) {
      throw new Error(`${spec.method.toUpperCase()} ${spec.path}: the ${target} the document declares is not the one its chain validates`);
    }
  }
}

/** A JSON answer of `schema`. */
export const json = <S extends z.ZodType>(schema: S, description: string) => ({ description, content: { "application/json": { schema } } });

/** A JSON request body (its defaults apply when the body is empty, so it is never required). */
export const body = <S extends z.ZodType>(schema: S) => ({ required: false, content: { "application/json": { schema } } });

type Refusal<C extends ErrorCode> = ReturnType<typeof json<z.ZodType<{ error: C; message: string }>>>;

function refusal(codes: ErrorCode[]) {
  const bodies = codes.map((c) => ErrorBodies[c]);
  const schema = bodies.length === 1 ? bodies[0]! : z.discriminatedUnion("error", bodies as [(typeof bodies)[0], ...typeof bodies]);
  return json(schema, codes.map((c) => `\`${c}\``).join(", "));
}

/**
 * The refusals a route can answer (`{ error, message, ... }`), grouped by their status in ERRORS:
 * `refusals("sold_out", "not_found")` is `{ 409: ..., 404: ... }`. `mount` adds EVERY_ROUTE's.
 */
export function refusals<const C extends ErrorCode>(...codes: C[]): { [S in (typeof ERRORS)[C]]: Refusal<C> } {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of new Set(codes)) byStatus.set(ERRORS[c], [...(byStatus.get(ERRORS[c]) ?? []), c]);
  return Object.fromEntries([...byStatus].map(([status, cs]) => [status, refusal(cs)])) as never;
}

/** What any route may answer: the body limit is in front of them all, and onError's last resort. */
const EVERY_ROUTE = { 413: refusal(["payload_too_large"]), 500: refusal(["internal"]) };

/** Header parameters, described once as components (src/routes/docs.ts registers them). */
export const header = {
  idempotencyKey: { $ref: "#/components/parameters/IdempotencyKey" },
  pass: { $ref: "#/components/parameters/Pass" },
  ticket: { $ref: "#/components/parameters/Ticket" },
} as const;

/** Who may call: a shopper's session, or the operator's token (src/routes/docs.ts defines both). */
export const asShopper = [{ session: [] }];
export const asOperator = [{ admin: [] }];
