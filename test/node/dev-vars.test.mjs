// `npm start`'s local secrets (scripts/lib/dev-vars.mjs), run with Node's test runner: a fresh
// clone gets random secrets, and an old .dev.vars with published or weak ones gets new ones.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { secretProblem } from "../../domain/secret-rules.js";
import { ensureDevVars } from "../../scripts/lib/dev-vars.mjs";

const example = join(import.meta.dirname, "../../.dev.vars.example");
const fresh = () => join(mkdtempSync(join(tmpdir(), "flashsale-devvars-")), ".dev.vars");

test("a first run writes .dev.vars with random secrets the Worker accepts, different every time", () => {
  const a = ensureDevVars({ file: fresh(), example });
  const b = ensureDevVars({ file: fresh(), example });
  for (const name of /** @type {const} */ (["ADMIN_TOKEN", "TOKEN_SECRET"])) {
    assert.equal(secretProblem(name, a.vars[name]), null, `${name} must pass the Worker's rule`);
    assert.notEqual(a.vars[name], b.vars[name]);
  }
  assert.equal(a.vars.DEPLOYMENT, "local");
  assert.equal(a.vars.GATEWAY, "simulated");
  assert.ok(a.changed.some((c) => c.startsWith("created")));
});

test("an old .dev.vars with the published examples gets new secrets, keeps what is safe, gains new keys", () => {
  const file = fresh();
  writeFileSync(
    file,
    "# mine\nADMIN_TOKEN=dev-admin-token\nTOKEN_SECRET=dev-token-secret-change-me-0123456789abcdef\nTOKEN_SECRET_PREVIOUS=short\nTURNSTILE_SECRET=keep-me\n",
  );
  const { vars, changed } = ensureDevVars({ file, example });
  assert.equal(secretProblem("ADMIN_TOKEN", vars.ADMIN_TOKEN), null);
  assert.equal(secretProblem("TOKEN_SECRET", vars.TOKEN_SECRET), null);
  assert.equal(vars.TOKEN_SECRET_PREVIOUS, "");
  assert.equal(vars.TURNSTILE_SECRET, "keep-me");
  assert.equal(vars.DEPLOYMENT, "local");
  assert.match(readFileSync(file, "utf8"), /^# mine$/m);
  assert.ok(changed.some((c) => c.includes("published")));
  // A second run changes nothing.
  assert.deepEqual(ensureDevVars({ file, example }).changed, []);
});
