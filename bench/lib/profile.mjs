// CPU profile of the flashsale isolate (edge Worker and its Durable Objects run in it) while a
// scenario runs, through workerd's inspector (Chrome DevTools protocol). Writes a .cpuprofile
// (open it in Chrome DevTools or speedscope) and returns a short summary: self time by source
// module of the bundle (wrangler's bundle marks each module with a `// path` comment) and the
// heaviest functions.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import WebSocket from "ws";

export async function startProfile(inspectorUrl, workerName = "flashsale") {
  const base = String(inspectorUrl).replace(/^ws/, "http").replace(/\/$/, "");
  const targets = await (await fetch(`${base}/json`)).json();
  const t = targets.find((x) => x.title?.includes(workerName) || x.id?.includes(workerName)) ?? targets[0];
  if (!t) throw new Error(`no inspector target for ${workerName}: ${JSON.stringify(targets)}`);
  const url = t.webSocketDebuggerUrl ?? `${String(inspectorUrl).replace(/\/$/, "")}/${t.id}`;
  const ws = new WebSocket(url);
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(String(m));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((res) => {
      const n = ++id;
      pending.set(n, res);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  return {
    target: t.title ?? t.id,
    async stop(file, bundlePath) {
      const r = await send("Profiler.stop");
      ws.close();
      const profile = r.result?.profile;
      if (!profile) throw new Error(`no profile: ${JSON.stringify(r).slice(0, 300)}`);
      writeFileSync(file, JSON.stringify(profile));
      return summarize(profile, bundlePath);
    },
  };
}

/** Bundle line → the source module it came from (`// src/routes/sales.ts` markers). */
function moduleMap(bundlePath) {
  const marks = [];
  readFileSync(bundlePath, "utf8")
    .split("\n")
    .forEach((l, i) => {
      const m = /^\/\/ ((?:src|domain|durable-objects|public|node_modules)\/\S+|\.\.\/\S+)$/.exec(l);
      if (m) marks.push([i, m[1].replace(/^(\.\.\/)+/, "").replace(/^.*node_modules\/(\.pnpm\/)?/, "npm:")]);
    });
  return (line) => {
    let lo = 0,
      hi = marks.length - 1,
      found = "(bundle)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) {
        found = marks[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

export function summarize(profile, bundlePath) {
  const where = bundlePath ? moduleMap(bundlePath) : () => "";
  // The bundle's own frames carry its file name (index.js, or entry.js behind the bench's limiter).
  const bundleFile = bundlePath ? `/${basename(bundlePath)}` : "/index.js";
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
  const dt = new Map();
  for (const [i, s] of profile.samples.entries()) dt.set(s, (dt.get(s) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const sampled = [...dt.values()].reduce((a, b) => a + b, 0);
  // Shares are of the isolate's busy time: while it idles (waiting for the next request, or for
  // the CPU another process has) nothing of ours runs.
  let idle = 0;
  for (const [nodeId, us] of dt) if (byId.get(nodeId).callFrame.functionName === "(idle)") idle += us;
  const total = Math.max(1, sampled - idle);
  const label = (f) => {
    const inBundle = f.url?.endsWith(bundleFile);
    const mod = inBundle ? where(f.lineNumber) : f.url ? "(other script)" : `(${f.functionName || "native"})`;
    return { mod, fn: `${f.functionName || "(anonymous)"} ${inBundle ? `${mod}:${f.lineNumber + 1}` : f.url || ""}`.trim() };
  };
  const selfMod = new Map(),
    selfFn = new Map(),
    inclMod = new Map(),
    inclFn = new Map();
  const add = (m, k, us) => m.set(k, (m.get(k) ?? 0) + us);
  for (const [nodeId, us] of dt) {
    if (byId.get(nodeId).callFrame.functionName === "(idle)") continue;
    const own = label(byId.get(nodeId).callFrame);
    add(selfMod, own.mod, us);
    add(selfFn, own.fn, us);
    // Inclusive: every function and module on this sample's (synchronous) stack, once each.
    const mods = new Set(),
      fns = new Set();
    for (let id = nodeId; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id).callFrame);
      if (l.fn.startsWith("(root)")) continue;
      mods.add(l.mod);
      fns.add(l.fn);
    }
    for (const m of mods) add(inclMod, m, us);
    for (const f of fns) add(inclFn, f, us);
  }
  const top = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => ({ what: k, ms: Math.round(us / 1000), pct: +((100 * us) / total).toFixed(1) }));
  // Frames: each function (name, source module and line) with its inclusive and self share.
  const frames = [...inclFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40)
    .map(([k, us]) => ({
      what: k,
      incl_pct: +((100 * us) / total).toFixed(1),
      self_pct: +((100 * (selfFn.get(k) ?? 0)) / total).toFixed(1),
    }));
  return {
    sampled_ms: Math.round(sampled / 1000),
    busy_ms: Math.round(total / 1000),
    frames,
    self_by_module: top(selfMod, 60),
    self_by_function: top(selfFn, 30),
    inclusive_by_module: top(inclMod, 25),
    inclusive_by_function: top(inclFn, 40),
  };
}
