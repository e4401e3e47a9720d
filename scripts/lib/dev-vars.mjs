// `npm start`'s local settings: .dev.vars, made from .dev.vars.example on the first run, with
// random secrets. On later runs, keys the example has gained are added, and a secret the Worker
// would refuse (empty, short, or a value once published as an example) is replaced with a random
// one, so a fresh clone and an old checkout both start with safe local secrets.
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { secretProblem } from "../../domain/secret-rules.js";

const LINE = /^([A-Z_][A-Z0-9_]*)=(.*)$/;
const parse = (text) =>
  Object.fromEntries(
    text
      .split("\n")
      .map((l) => LINE.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], m[2].trim()]),
  );
/** @type {Partial<Record<import("../../domain/secret-rules.js").SecretName, number>>} */
const GENERATED = { ADMIN_TOKEN: 24, TOKEN_SECRET: 32, SHOP_IDENTITY_SECRET: 32 };

/** The values in a .dev.vars file, or {} when there is none (read only: nothing is generated). */
export function readDevVars(file = ".dev.vars") {
  return existsSync(file) ? parse(readFileSync(file, "utf8")) : {};
}

/** Makes .dev.vars safe and complete; returns its values and what was changed. */
export function ensureDevVars({ file = ".dev.vars", example = ".dev.vars.example" } = {}) {
  const changed = [];
  if (!existsSync(file)) {
    copyFileSync(example, file);
    changed.push(`created ${file} from ${example}`);
  }
  let text = readFileSync(file, "utf8");
  const set = (key, value, why) => {
    const re = new RegExp(`^${key}=.*$`, "m");
    text = re.test(text) ? text.replace(re, `${key}=${value}`) : `${text.replace(/\n?$/, "\n")}${key}=${value}\n`;
    changed.push(`${key}: ${why}`);
  };
  const wanted = parse(readFileSync(example, "utf8"));
  for (const [key, value] of Object.entries(wanted)) if (!(key in parse(text))) set(key, value, `added from ${example}`);
  for (const [key, bytes] of Object.entries(GENERATED)) {
    const problem = secretProblem(/** @type {import("../../domain/secret-rules.js").SecretName} */ (key), parse(text)[key]);
    if (problem) set(key, randomBytes(bytes).toString("hex"), `${problem}: generated a random one`);
  }
  const previous = parse(text).TOKEN_SECRET_PREVIOUS;
  if (previous && secretProblem("TOKEN_SECRET_PREVIOUS", previous)) set("TOKEN_SECRET_PREVIOUS", "", "refused by the Worker: cleared");
  if (changed.length) writeFileSync(file, text);
  return { vars: parse(text), changed };
}
