#!/usr/bin/env node
// `npm run check:deps` (CI): the installed tree is exactly the lockfile's (`npm ls --all`: nothing
// missing, extraneous or invalid) and every package the code imports is declared in package.json,
// not merely present because something else depends on it.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";

const DIRS = ["src", "durable-objects", "domain", "scripts", "bench", "test", "public", "bin"];
const FILES = ["vitest.config.ts"];
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
const builtins = new Set(builtinModules);

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "results") continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (/\.(ts|mts|js|mjs|cjs)$/.test(e.name)) yield p;
  }
}

/** The package a bare specifier names: "@scope/name/sub" → "@scope/name", "hono/jwt" → "hono". */
const packageOf = (spec) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");
const SPEC = /(?:(?<=[\s}])from\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"'\n]+)["']/g;

const problems = [];
for (const file of [...DIRS.flatMap((d) => [...sources(d)]), ...FILES]) {
  for (const [, spec] of readFileSync(file, "utf8").matchAll(SPEC)) {
    if (spec.startsWith(".") || spec.startsWith("/") || /^(node|cloudflare):/.test(spec)) continue;
    const name = packageOf(spec);
    if (builtins.has(name) || declared.has(name)) continue;
    problems.push(`${file}: imports "${spec}", but package.json does not declare "${name}"`);
  }
}

try {
  execFileSync("npm", ["ls", "--all"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
} catch (e) {
  problems.push(`npm ls --all: the installed tree does not match package.json and the lockfile\n${e.stderr ?? e.message}`);
}

if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`check:deps: every import declared (${declared.size} packages), npm ls clean`);
