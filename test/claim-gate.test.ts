import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ended, notOpen, refusedForEveryone, soldOut, soldOutForEveryone } from "../domain/claim-gate";
import { SOLD_OUT_FOR_NOW } from "../domain/schemas/hold";

/**
 * The claim's refusal rules (domain/claim-gate.ts), which the object decides with and the edge
 * answers early with: properties over every stock, quantity, policy and status.
 */

const status = fc.constantFrom("scheduled", "open", "paused", "closed" as const);
const policy = fc.constantFrom("release", "undersell", "waitlist" as const);
const stock = fc.record({ available: fc.nat(1000), held: fc.nat(1000) });
const qty = fc.integer({ min: 1, max: 20 });
const startsAt = fc.date({ noInvalidDate: true }).map((d) => d.toISOString());

describe("the claim gate", () => {
  it("sold out: refused exactly when fewer units are available than asked, 'for now' exactly when held units may come back", () => {
    fc.assert(
      fc.property(stock, qty, policy, (s, q, p) => {
        const r = soldOut(s, q, p);
        expect(r === undefined).toBe(s.available >= q);
        if (!r) return;
        expect(r).toMatchObject({ ok: false, error: "sold_out", extra: { available: s.available, held: s.held } });
        expect(r.message === SOLD_OUT_FOR_NOW).toBe(s.held > 0 && p === "release");
      }),
    );
  });

  it("the edge's 'sold out for everyone' and the object's agree: every claim is refused, and the route reads the refusal back as such", () => {
    fc.assert(
      fc.property(stock, qty, policy, status, (s, q, p, st) => {
        const view = { status: st, release_policy: p, sold_out: s.available === 0 };
        const objectSays = st === "open" && p !== "waitlist" ? soldOut(s, q, p) : undefined;
        if (soldOutForEveryone(view)) {
          // Whatever the shopper asks for, the object would refuse it, and say nothing is left.
          expect(objectSays).toBeDefined();
          expect(refusedForEveryone(objectSays!)).toBe(true);
        }
        // A refusal the route reads as "nothing left" primes an answer the fast path gives.
        if (objectSays && refusedForEveryone(objectSays)) expect(soldOutForEveryone(view)).toBe(true);
        // "Fewer than you asked for" is not "sold out for everyone".
        if (objectSays && s.available > 0) expect(refusedForEveryone(objectSays)).toBe(false);
      }),
    );
  });

  it("not open: no refusal exactly when open; ended is the closed part, and joining the line is refused only then", () => {
    fc.assert(
      fc.property(status, startsAt, (st, at) => {
        const r = notOpen(st, at);
        expect(r === undefined).toBe(st === "open");
        expect(ended(st) === undefined).toBe(st !== "closed");
        if (st === "closed") expect(r).toEqual(ended(st));
        if (st === "closed") expect(r).toMatchObject({ error: "sale_closed" });
        if (st === "paused" || st === "scheduled") {
          expect(r).toMatchObject({ error: "not_open", extra: { starts_at: at } });
          expect(r!.message).toBe(st === "paused" ? "the sale is paused" : "the sale has not started");
        }
      }),
    );
  });
});
