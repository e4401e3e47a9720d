// The rehearsal's fairness figures (issues 10 and 13), from what the shoppers and the bots saw:
//  - units won by bots and by honest shoppers, beside the bots' share of identities, of networks,
//    and of the identities admitted when the stock first ran out (their fair share of the units);
//  - for honest shoppers who arrived after the opening: Spearman's ρ between the order they joined
//    the line (their request on the wire) and the order they were admitted in (1 = strictly first
//    come, first served; the line's buckets of 100 ms make it a little less);
//  - "overtaken": the share of winners who arrived after an honest shopper who kept trying and lost;
//  - the draw (issue 19): the bots' share of the identities in the pre-queue's lottery (bucket 0:
//    before the opening and in the lottery window after it), against their share of the units;
//  - units follow the line: the share of units sold to the first `stock + no-shows` places, where a
//    no-show is a place whose turn came and who did not buy (walked away, cancelled, was declined).
import { percentile, spearman } from "./stats.mjs";

/** Outcomes of an honest shopper who wanted a unit to the end and got none. */
const LOST = new Set(["sold_out", "sold_out_waiting", "no_pass", "waitlisted"]);
/** The line's granularity after the opening (domain/line.ts BUCKET_MS). */
const BUCKET_MS = 100;

const endOf = (h) => h.end?.status ?? h.final;
const unitsOf = (r) => r.holds.filter((h) => endOf(h) === "confirmed").length;
const before = (x, y) => x.bucket - y.bucket || x.key - y.key;
const share = (n, d) => (d ? n / d : null);

/**
 * @param {object} o
 * @param {any[]} o.shoppers honest shoppers (lib/shopper.mjs)
 * @param {any[]} o.bots     the bots' identities (lib/bots.mjs)
 * @param {any} o.sale       the sale as created (`starts_at_ms`)
 * @param {number|null} [o.soldOutAt] when the sale was first seen sold out (ms), if it was
 */
export function fairness({ shoppers, bots, sale, soldOutAt = null }) {
  const everyone = [...shoppers, ...bots];
  const units = { honest: shoppers.reduce((n, r) => n + unitsOf(r), 0), bots: bots.reduce((n, r) => n + unitsOf(r), 0) };
  // Units whose hold was made after the stock first ran out: ones that came back (abandoned,
  // cancelled, declined) and went to whoever claimed at that moment.
  const lateUnits = (rs) =>
    rs.reduce((n, r) => n + r.holds.filter((h) => endOf(h) === "confirmed" && soldOutAt !== null && h.created_at > soldOutAt).length, 0);
  const cameBack = { honest: lateUnits(shoppers), bots: lateUnits(bots) };
  const networks = { honest: new Set(shoppers.map((r) => r.ip ?? "local")).size, bots: new Set(bots.map((r) => r.ip)).size };
  const identities = { honest: new Set(shoppers.map((r) => r.identity)).size, bots: new Set(bots.map((r) => r.identity)).size };

  // Who competed for the stock: the identities the room had admitted when it first sold out (the
  // shoppers "still in line" for it; units that came back later went to whoever claimed then).
  const winners = everyone.filter((r) => unitsOf(r) > 0);
  const admittedBy = (t) => everyone.filter((r) => r.admission && (t === null || r.admission.at <= t));
  const ahead = admittedBy(soldOutAt ?? null);
  const contenders = { all: ahead.length, bots: ahead.filter((r) => r.bot !== undefined).length };

  // First come, first served after the opening: the order honest shoppers joined in against the
  // order they were admitted in (the admission's time, then the place: the room serves places in order).
  const post = shoppers.filter((sh) => sh.prequeued === false && sh.admission && sh.joinedAt !== null);
  const byAdmission = [...post].sort((x, y) => x.admission.at - y.admission.at || before(x.admission, y.admission));
  const rank = new Map(byAdmission.map((sh, i) => [sh, i]));
  const rho = spearman(
    post.map((sh) => sh.joinedAt),
    post.map((sh) => rank.get(sh)),
  );
  // The same against when they came (before their session and proof of work), for reference.
  const rhoArrival = spearman(
    post.map((sh) => sh.arriveAt),
    post.map((sh) => rank.get(sh)),
  );
  const joined = post.map((sh) => sh.joinedAt);
  const spanMs = post.length ? Math.max(...joined) - Math.min(...joined) : 0;

  // Overtaken: a winner who arrived after an honest shopper who kept trying and lost. Everyone in
  // the pre-queue arrived "at the opening" (the pre-queue is a lottery: none is ahead of another),
  // and so did a request sent just before it that the line placed just after.
  const arrival = (r) => (r.prequeued ? sale.starts_at_ms : Math.max(r.joinedAt, sale.starts_at_ms));
  const losers = shoppers.filter((sh) => sh.joinedAt !== null && sh.holds.length === 0 && LOST.has(sh.outcome));
  const firstLoser = losers.length ? Math.min(...losers.map(arrival)) : null;
  const timed = winners.filter((w) => w.joinedAt !== null);
  const overtaken = firstLoser === null ? 0 : timed.filter((w) => arrival(w) > firstLoser).length;
  const overtakenByBucket = firstLoser === null ? 0 : timed.filter((w) => arrival(w) > firstLoser + BUCKET_MS).length;

  // How soon after the room admitted them shoppers and bots held their pass: the claim race that
  // follows an admission is won by whoever polls first (admitted_at is the room's mark, which can
  // trail the watermark by up to a mark's width, so a small or negative figure is possible).
  const passDelay = (rs) => {
    const d = rs.filter((r) => r.admission && r.passAt).map((r) => r.passAt - r.admission.at);
    return d.length ? { n: d.length, p50: percentile(d, 50), p90: percentile(d, 90) } : null;
  };

  // The draw: identities whose place is in bucket 0 (the pre-queue and the lottery window).
  const drawn = everyone.filter((r) => r.prequeued);
  const draw = { all: drawn.length, bots: drawn.filter((r) => r.bot !== undefined).length };

  // Units follow the line: walk the places in line order (the place a turn came to, else the first
  // one) until `stock` places that did not no-show; the units sold to those places, of all sold.
  const placeOf = (r) => (r.admission ? { bucket: r.admission.bucket, key: r.admission.key } : r.place);
  const ranked = everyone.filter((r) => placeOf(r)).sort((x, y) => before(placeOf(x), placeOf(y)));
  const noShow = (r) => r.admission && unitsOf(r) === 0 && !LOST.has(r.outcome);
  let kept = 0;
  let places = 0;
  let prefixUnits = 0;
  let noShows = 0;
  for (const r of ranked) {
    if (kept >= sale.stock_total) break;
    places++;
    prefixUnits += unitsOf(r);
    if (noShow(r)) noShows++;
    else kept++;
  }
  const line = {
    places,
    noShows,
    units: prefixUnits,
    sold: units.bots + units.honest,
    share: share(prefixUnits, units.bots + units.honest),
  };

  const prequeue = {
    honest: shoppers.filter((r) => r.prequeued).length,
    bots: bots.filter((r) => r.prequeued).length,
    honestUnits: shoppers.filter((r) => r.prequeued).reduce((n, r) => n + unitsOf(r), 0),
  };
  return {
    units,
    cameBack,
    identities,
    networks,
    contenders,
    shares: {
      botUnits: share(units.bots, units.bots + units.honest),
      botIdentities: share(identities.bots, identities.bots + identities.honest),
      botNetworks: share(networks.bots, networks.bots + networks.honest),
      botContenders: share(contenders.bots, contenders.all),
      botDraw: share(draw.bots, draw.all),
    },
    draw,
    line,
    postOpening: { n: post.length, spanMs, rho: Number.isNaN(rho) ? null : rho, rhoArrival: Number.isNaN(rhoArrival) ? null : rhoArrival },
    overtaken: {
      winners: winners.length,
      n: overtaken,
      beyondBucket: overtakenByBucket,
      share: share(overtaken, winners.length),
      losers: losers.length,
    },
    prequeue,
    passAfterAdmission: { honest: passDelay(shoppers), bots: passDelay(bots) },
  };
}
