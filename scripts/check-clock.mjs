// `npm run check:clock`: one clock. The Worker, its objects and the pages read the time from
// domain/clock.ts (which tests move), the Node side (scripts, bench, CLI) from
// scripts/lib/clock.mjs; no other file reads the platform's clock (`Date.now()`, `new Date()`),
// and only tests move domain/clock.ts's (`shiftClock`). Tests may read real time as they please.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const SCANNED = ["bin", "bench", "domain", "durable-objects", "public", "scripts", "src"];
/** The clock modules, and bench Workers that cannot import one (loaded on their own, or wrapping an older tree). */
const CLOCKS = new Set(["domain/clock.ts", "scripts/lib/clock.mjs", "bench/workers/filler.mjs", "bench/workers/local-limits.mjs"]);
const RULES = [
  { re: /\bDate\.now\s*\(/, why: "reads the platform's clock: use now() from domain/clock.ts (Node side: scripts/lib/clock.mjs)" },
  { re: /\bnew Date\s*\(\s*\)/, why: "reads the platform's clock: use new Date(now())" },
  { re: /\bshiftClock\b/, why: "moves the clock: tests only (test/support/clock.ts)" },
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith(".d.ts")) yield p;
  }
}

const problems = [];
for (const top of SCANNED) {
  for (const file of files(join(ROOT, top))) {
    const rel = relative(ROOT, file);
    if (CLOCKS.has(rel)) continue;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        const code = line.replace(/(^|\s)\/\/.*$/, "");
        if (/^\s*\*/.test(code)) return; // a doc comment's line
        for (const { re, why } of RULES) if (re.test(code)) problems.push(`${rel}:${i + 1}: ${why}\n    ${line.trim()}`);
      });
  }
}
if (problems.length) {
  console.error(`check:clock: ${problems.length} problem(s)\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`check:clock: ok (time is read only in ${[...CLOCKS].join(", ")})`);
