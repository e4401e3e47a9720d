// Bench-only Worker, next to flashsale in the same workerd, reaching its product objects over
// their own RPC methods (there is no bulk API and no HTTP in between):
//   POST /fill?sale=&from=&count=&parallel=   past holds: claim then cancel, `parallel` at a
//        time so group commit batches them as under load → { filled, ms }
//   POST /claims?sale=&seconds=&parallel=     the object alone: `parallel` loops of one-shot
//        claims (a new user each) for `seconds` → { claims, ms, p50_ms, p99_ms, max_ms, codes }
export default {
  async fetch(request, env) {
    const u = new URL(request.url);
    const num = (k, d) => Number(u.searchParams.get(k) ?? d);
    const sale = u.searchParams.get("sale");
    const inv = env.INVENTORY.get(env.INVENTORY.idFromName(sale));
    if (u.pathname === "/fill") return fill(inv, num("from", 0), num("count", 0), num("parallel", 250));
    if (u.pathname === "/orders") return orders(inv, num("count", 0));
    if (u.pathname === "/claims") return claims(inv, sale, num("seconds", 5), num("parallel", 16));
    return new Response("not found", { status: 404 });
  },
};

async function fill(inv, from, count, parallel) {
  const t0 = Date.now();
  let filled = 0;
  for (let i = from; i < from + count; i += parallel) {
    const users = Array.from({ length: Math.min(parallel, from + count - i) }, (_, j) => `past${i + j}`);
    const claimed = await Promise.all(users.map((user, j) => inv.claim({ user, qty: 1, key: `past-${i + j}` })));
    const bad = claimed.find((r) => !r.ok || r.value.kind !== "hold" || !r.value.created);
    if (bad) return Response.json({ error: "claim_failed", answer: bad, filled }, { status: 500 });
    const cancelled = await Promise.all(claimed.map((r, j) => inv.cancel(r.value.hold.id, users[j])));
    const notCancelled = cancelled.find((r) => !r.ok || r.value.status !== "cancelled");
    if (notCancelled) return Response.json({ error: "cancel_failed", answer: notCancelled, filled }, { status: 500 });
    filled += users.length;
  }
  return Response.json({ filled, ms: Date.now() - t0 });
}

/** `count` paid orders (claim, then pay with tok_ok): the order events a shop is sent. */
async function orders(inv, count) {
  const paid = await Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const user = `buyer${k}`;
      const r = await inv.claim({ user, qty: 1, key: `buy-${k}` });
      if (!r.ok || r.value.kind !== "hold") return false;
      const p = await inv.pay(r.value.hold.id, user, "tok_ok");
      return p.ok && p.value.status === "confirmed";
    }),
  );
  return Response.json({ confirmed: paid.filter(Boolean).length });
}

async function claims(inv, sale, seconds, parallel) {
  const lat = [];
  const codes = {};
  const t0 = performance.now();
  const until = Date.now() + seconds * 1000;
  let n = 0;
  const loop = async () => {
    while (Date.now() < until) {
      const k = n++;
      const t = performance.now();
      const r = await inv.claim({ user: `obj-${sale}-${k}`, qty: 1, key: `obj-${k}` });
      lat.push(performance.now() - t);
      const code = r.ok ? (r.value.created ? "created" : "replayed") : r.error;
      codes[code] = (codes[code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: parallel }, loop));
  const ms = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const q = (p) => +(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0).toFixed(1);
  return Response.json({ claims: lat.length, ms: Math.round(ms), p50_ms: q(0.5), p99_ms: q(0.99), max_ms: q(1), codes });
}
