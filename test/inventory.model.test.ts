import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commands, expectD1, setUp, type Model, type Real } from "./support/inventory-model";

/**
 * The product object against a reference model (test/support/inventory-model.ts): random
 * sequences of claims (same and new keys, quantities, shoppers sharing a network), payments
 * (ok, declined, unknown, a late success delivered once or twice), cancels, expiries and give-ups
 * (the clock moved for the holds, the alarm run), restocks, pause/resume and restarts, each on a
 * fresh sale; after every step the counters, every hold's state and the refunds owed must equal
 * the model's, and after a flush (and at the end of every sequence) D1's orders and refunds too.
 *
 * The sequences run in LANES independent property runs at once (each lane its own seed, each
 * sequence its own object): the objects mostly wait on storage, so lanes overlap that waiting.
 * A failure shrinks to a shortest sequence and prints its seed and path; replay it with
 * `FC_SEED=<the failing lane's seed> npx vitest run test/inventory.model.test.ts` (one lane, the
 * same sequences in the same order; the line is printed as it is). FC_RUNS sets the
 * number of sequences (default 1,000). MUTATION=… (npm run mutants) runs it against a deliberate bug.
 */
const shell = env as unknown as Record<"FC_SEED" | "FC_PATH" | "FC_RUNS", string | undefined>;
const RUNS = Number(shell.FC_RUNS || 1000);
/**
 * The wall-clock budget (FC_BUDGET_S, default 100 s): a machine too busy to run every sequence in
 * it stops the lanes there and says how many ran, rather than failing on the test's timeout.
 */
const BUDGET_MS = Number((env as unknown as { FC_BUDGET_S?: string }).FC_BUDGET_S || 100) * 1000;
const LANES = 8;

const sale = fc.record({
  stock: fc.integer({ min: 1, max: 6 }),
  policy: fc.constantFrom<Model["policy"]>("release", "undersell"),
  limit: fc.integer({ min: 1, max: 3 }),
  shared: fc.boolean(),
});

/** The first lane that fails: the other lanes stop spending the machine while it shrinks. */
let failing: number | null = null;
const property = (lane: number) =>
  fc.asyncProperty(sale, commands, async (p, cmds) => {
    if (failing !== null && failing !== lane) return;
    try {
      await sequence(p, cmds);
    } catch (e) {
      failing ??= lane;
      throw e;
    }
  });

async function sequence(p: Parameters<typeof setUp>[0], cmds: Iterable<fc.AsyncCommand<Model, Real>>) {
  let world: { model: Model; real: Real } | undefined;
  await fc.asyncModelRun(async () => (world = await setUp(p)), cmds);
  // The end of the sequence, flushed: D1 has every paid order and done refund (a sequence that
  // paid nothing was checked step by step; its empty D1 rows are checked by the flush command).
  const { model, real } = world!;
  if (model.sold > 0 || model.refunds.size > 0) await expectD1(model, real);
}

describe("the product object against its model", () => {
  it(
    `keeps the model's books over ${RUNS} random sequences`,
    async () => {
      const started = Date.now();
      const base = shell.FC_SEED ? Number(shell.FC_SEED) : Math.floor(Math.random() * 2 ** 31);
      // A replay runs only the failing lane (its seed), as many sequences as it ran.
      const lanes = await Promise.all(
        Array.from({ length: shell.FC_SEED ? 1 : LANES }, (_, i) =>
          fc.check(property(i), {
            numRuns: Math.ceil(RUNS / LANES),
            seed: base + i,
            interruptAfterTimeLimit: BUDGET_MS,
            ...(shell.FC_PATH && { path: shell.FC_PATH, endOnFailure: true }),
          }),
        ),
      );
      const failed = lanes.find((l) => l.failed);
      if (failed) {
        // The lane's seed replays it: the same sequences in the same order, the same failure, shrunk
        // again. (fast-check's own path, printed above, needs the commands' replayPath as well.)
        const rerun = `FC_SEED=${failed.seed} npx vitest run test/inventory.model.test.ts`;
        console.error(`model test failed; replay with:\n  ${rerun}`);
        throw new Error(`${fc.defaultReportMessage(failed)}\n\n${String(failed.errorInstance)}\n\nreplay: ${rerun}`);
      }
      const runs = lanes.reduce((n, l) => n + l.numRuns, 0);
      const line = `model: ${runs} sequences in ${Date.now() - started} ms (seeds ${base}…${base + LANES - 1})`;
      if (lanes.some((l) => l.interrupted))
        console.warn(`${line}: only ${runs} of ${RUNS} within FC_BUDGET_S (${BUDGET_MS / 1000} s); the machine is busy`);
      else console.log(line);
      // A replay runs its one lane's share.
      const asked = shell.FC_SEED ? Math.ceil(RUNS / LANES) : RUNS;
      expect(runs).toBeGreaterThanOrEqual(lanes.some((l) => l.interrupted) ? asked / 10 : asked);
    },
    BUDGET_MS + 180_000,
  );
});
