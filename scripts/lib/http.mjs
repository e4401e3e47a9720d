// The rehearsal's transport for domain/client.js: keep-alive sockets, a cap on requests in flight
// (so the local runtime is loaded, not drowned), and a timing for every request. Built on
// node:http rather than fetch: on a 2-core box the client's own CPU is part of what is being
// measured.
import http from "node:http";
import https from "node:https";

export function createPool({ base, concurrency = 200, timeoutMs = 30_000 }) {
  const url = new URL(base);
  const mod = url.protocol === "https:" ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  let inFlight = 0;
  const waiters = [];
  const urgentWaiters = [];
  const counts = { sent: 0, network_errors: 0, by_status: {} };

  // `urgent` requests (a shopper inside a payment window, or racing for a unit) have a lane of
  // their own, served first and in order: the cap is there to spare the local runtime, not to
  // make holds expire, or the crowd lose its claims, in the client's queue.
  const acquire = (urgent) => {
    if (inFlight >= concurrency) return new Promise((resolve) => (urgent ? urgentWaiters : waiters).push(resolve));
    inFlight++;
    return Promise.resolve();
  };
  const release = () => {
    const next = urgentWaiters.shift() ?? waiters.shift();
    if (next) next();
    else inFlight--;
  };

  function once(method, path, headers, payload) {
    return new Promise((resolve, reject) => {
      const req = mod.request(
        { protocol: url.protocol, hostname: url.hostname, port: url.port, method, path, headers, agent, timeout: timeoutMs },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /**
   * One request, as the client's transport: resolves `{ status, headers, text, ms, waited }`;
   * `ms` is the time on the wire (after a slot was free), `waited` the time spent waiting for a
   * slot. A network error resolves with status 0 and its `error`, so callers decide about
   * retries in one place. Per call: `urgent`.
   */
  async function transport(method, path, { headers, body, urgent = false }) {
    const t0 = performance.now();
    await acquire(urgent);
    const t1 = performance.now();
    const h = { ...headers };
    if (body !== undefined) h["content-length"] = Buffer.byteLength(body);
    counts.sent++;
    try {
      const res = await once(method, path, h, body);
      counts.by_status[res.status] = (counts.by_status[res.status] ?? 0) + 1;
      return { ...res, ms: performance.now() - t1, waited: t1 - t0 };
    } catch (e) {
      counts.network_errors++;
      return { status: 0, headers: {}, text: "", error: String(e.message ?? e), ms: performance.now() - t1, waited: t1 - t0 };
    } finally {
      release();
    }
  }

  return {
    transport,
    counts,
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiters.length + urgentWaiters.length;
    },
    close: () => agent.destroy(),
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
