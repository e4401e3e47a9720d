import { gatewaySim } from "../../domain/objects";
import { ok, refuse, type Result } from "../../domain/result";
import type { Faults, FaultsSet } from "../../domain/schemas/faults";
import { allOk, shardsFor } from "../edge/shards";

/**
 * Breaks things on purpose, for rehearsals (the route refuses unless ALLOW_FAULTS is on): the
 * simulated gateway's rates, and D1 down or a restart for every shard of a sale.
 */
export async function injectFaults(env: Env, f: Faults): Promise<Result<FaultsSet>> {
  const out: FaultsSet = {};
  if ((f.d1_down_ms !== undefined || f.restart) && !f.sale) return refuse("invalid_request", "d1_down_ms and restart need `sale`");
  if (f.gateway) {
    await gatewaySim(env).setRates(f.gateway);
    out.gateway = f.gateway;
  }
  if (f.sale && (f.d1_down_ms !== undefined || f.restart)) {
    const each = allOk(
      await Promise.all((await shardsFor(env, f.sale)).map((inv) => inv.fault({ d1_down_ms: f.d1_down_ms, restart: f.restart }))),
    );
    if (!each.ok) return each;
    out.inventory = each.value[0]!;
  }
  return ok(out);
}
