import { createMiddleware } from "hono/factory";
import { SALE_ID } from "../../../domain/ids";
import type { AppEnv } from "../../app-env";
import { saleExists } from "../../edge/catalog";
import { ApiError } from "../../lib/api-error";

/** The refusal for a sale id that was never created (nothing is reached, nothing is written). */
export const noSuchSale = (id: string) => new ApiError("not_found", `no sale ${id}`);

/**
 * Routes on `/:id` reach the sale's objects only if the sale exists (edge/catalog.ts): a request
 * for an id that was never created is a 404 that creates nothing.
 */
export const knownSale = createMiddleware<AppEnv>(async (c, next) => {
  const id = c.req.param("id") ?? "";
  // A malformed id is the route's validator's to refuse (400), whichever runs first.
  if (SALE_ID.test(id) && !(await saleExists(c.env, id))) throw noSuchSale(id);
  await next();
});
