// One measurement: autocannon at `connections` for `duration` seconds against one URL, the
// request built per call by `next()` (so each request can be a different shopper). Returns
// the figures the table needs, plus how evenly the connections were served.
import autocannon from "autocannon";
import { UA } from "./shoppers.mjs";

/**
 * @param {object} o
 * @param {string} o.base       origin, e.g. http://127.0.0.1:PORT
 * @param {Record<string,string>} [o.headers]  sent on every request (routing, content-type)
 * @param {() => {method?: string, path: string, headers?: object, body?: string}} o.next
 * @param {number} o.connections concurrent connections
 * @param {number} o.duration    seconds
 * @param {number} [o.limit]    stop after this many requests in all (a pool of one-shot shoppers)
 */
export async function measure({ base, headers = {}, next, connections, duration, limit }) {
  const perConn = new Map();
  const opts = {
    url: base,
    connections,
    duration,
    pipelining: 1,
    timeout: 30,
    headers: { "user-agent": UA, ...headers },
    requests: [
      {
        setupRequest: (req) => {
          const r = next();
          return { ...req, method: r.method ?? "GET", path: r.path, headers: { ...req.headers, ...r.headers }, body: r.body };
        },
      },
    ],
    ...(limit ? { maxOverallRequests: limit } : {}),
  };
  const started = process.hrtime.bigint();
  const inst = autocannon(opts);
  inst.on("response", (client) => perConn.set(client, (perConn.get(client) ?? 0) + 1));
  const r = await inst;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const served = [...perConn.values()];
  const total = r.requests.total;
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  const mean = served.length ? total / served.length : 0;
  return {
    connections,
    duration_s: +seconds.toFixed(2),
    requests: total,
    rps: Math.round(total / Math.max(seconds, 1e-9)),
    // autocannon's own figure (mean of its per-second samples), for cross-checking
    rps_autocannon: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    codes,
    conns_served: served.length,
    // Starvation: connections that got far fewer answers than the mean (or none at all).
    conn_min: served.length < connections ? 0 : Math.min(...served),
    conn_max: served.length ? Math.max(...served) : 0,
    conn_starved: connections - served.length + served.filter((n) => n < mean * 0.5).length,
  };
}
