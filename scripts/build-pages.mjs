#!/usr/bin/env node
// Builds the static pages into dist/public, the directory wrangler serves as assets. The pages'
// scripts import shared code from domain/ (the proof of work, the API client, the clock rule),
// which the browser cannot reach on its own, so each entry point is bundled with esbuild;
// everything else in public/ (HTML, CSS, headers) is copied as it is. wrangler runs this before
// `wrangler dev` and `wrangler deploy` ([build] in wrangler.toml); `npm test` runs it first.
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "public");
const OUT = join(ROOT, "dist/public");
/**
 * The pages' entry points (a Web Worker is one too): the shopper page, and the operator's
 * dashboard (admin/: its script imports uPlot from npm, its stylesheet uPlot's CSS).
 */
const ENTRIES = ["app.js", "pow-worker.js", "admin/dashboard.js", "admin/dashboard.css"];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
// Scripts and stylesheets that are entry points reach the browser only through the bundles.
const bundled = new Set(ENTRIES.map((e) => join(SRC, e)));
cpSync(SRC, OUT, { recursive: true, filter: (from) => !/\.(js|ts)$/.test(from) && !bundled.has(from) });
await build({
  entryPoints: ENTRIES.map((e) => join(SRC, e)),
  outdir: OUT,
  outbase: SRC,
  bundle: true,
  format: "esm",
  target: "es2022",
  sourcemap: "linked",
  minify: false,
  logLevel: "warning",
});
console.log(`pages built into ${OUT.slice(ROOT.length + 1)}: ${readdirSync(OUT, { recursive: true }).join(", ")}`);
