import type { Result, Router } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";

/** Answers kept; cleared all at once when full (a flood of odd paths only clears it sooner). */
const REMEMBERED = 1_000;

/**
 * The app's router: Hono's TrieRouter (RegExpRouter, the faster matcher, refuses an enum
 * parameter beside static siblings: `/admin/sales/:id/{pause|resume|close}` next to `…/restock`,
 * and the default SmartRouter falls back to this one anyway), remembering its last answers by
 * method and path: a crowd polls and claims on a handful of paths, and matching each request
 * again was ~5 % of a claim's CPU. An answer is the same for the same method and path until a
 * route is added, and Hono only reads it.
 */
export class RememberingRouter<T> implements Router<T> {
  readonly name = "RememberingRouter(TrieRouter)";
  readonly #inner = new TrieRouter<T>();
  readonly #answers = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#answers.clear();
    this.#inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`;
    let r = this.#answers.get(key);
    if (r === undefined) {
      r = this.#inner.match(method, path);
      if (this.#answers.size >= REMEMBERED) this.#answers.clear();
      this.#answers.set(key, r);
    }
    return r;
  }
}
