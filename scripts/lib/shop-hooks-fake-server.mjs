// The fake shop endpoint (shop-hooks-fake.mjs) on a local port, for `npm run rehearse --
// --shop-webhook fake`: the Worker POSTs its order events here, signed, and meets the faults.
import { randomBytes } from "node:crypto";
import http from "node:http";
import { createShopHooksFake } from "./shop-hooks-fake.mjs";

/** Returns { url (SHOP_WEBHOOK_URL), secret, fake, stop() }. */
export async function serveShopHooksFake({ timeoutMs, rates = {}, port = 0 }) {
  const secret = randomBytes(32).toString("hex");
  const fake = createShopHooksFake({ secret, timeoutMs, neverMs: timeoutMs * 4 });
  fake.setRates(rates);
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [/** @type {[string, string]} */ ([k, String(v)])])),
      body: ["GET", "HEAD"].includes(req.method) ? undefined : Buffer.concat(chunks),
    });
    try {
      const answer = await fake.handle(request);
      if (res.destroyed) return; // the sender gave up (its timeout)
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (e) {
      if (!res.destroyed) res.writeHead(500).end(String(e));
    }
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", () => r(undefined)));
  return {
    url: `http://127.0.0.1:${/** @type {import("node:net").AddressInfo} */ (server.address()).port}/hooks`,
    secret,
    fake,
    async stop() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
