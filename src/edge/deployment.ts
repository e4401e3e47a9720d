import { deploymentProblem, settings } from "../../domain/config";
import { log } from "../../domain/log";

const verdicts = new WeakMap<object, Response | null>();

/**
 * A Worker deployed to production with a local convenience switched on (test cards, faults,
 * the demo sign-in) answers every request with 503 and logs why, once per isolate: it must not
 * take a single order. Settings that do not parse are left to the app, which answers them as
 * the unexpected error they are.
 */
export function refusedDeployment(env: Env): Response | null {
  let verdict = verdicts.get(env);
  if (verdict === undefined) {
    let problem: string | null = null;
    try {
      problem = deploymentProblem(settings(env));
    } catch {
      problem = null;
    }
    if (problem) log("error", "deployment_refused", { problem });
    verdict = problem
      ? Response.json(
          { error: "misconfigured", message: "this shop is not configured to take orders; the operator is told in the logs" },
          { status: 503, headers: { "retry-after": "60", "cache-control": "no-store" } },
        )
      : null;
    verdicts.set(env, verdict);
  }
  return verdict ? verdict.clone() : null;
}
