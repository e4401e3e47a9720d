// The shopper page for one sale (/sale?id=<sale>): the shop's sign-in when the sale needs an
// account → countdown → waiting room (proof of work in a Web Worker, then position/ETA) → claim
// → payment within the hold's window → result. Only the public JSON API is used; progress lives
// in sessionStorage, so a reload (or the round trip to the shop's sign-in) resumes.
//
// One module per part: page.js (what the parts share), store.js (sessionStorage), api.js (the
// client, with the page's retries), format.js, sale-info.js (the product, live availability),
// account.js (session, sign-in), turnstile.js, start.js (1), line.js + puzzle.js (2), claim.js
// (3), pay.js + stripe-pay.js (4), results.js (5). This file wires the steps together, runs the
// clock and boots the page.
import { now as clockNow, onTheClock } from "../domain/clock";
import { SALE_ID } from "../domain/ids";
import { bindProgress, renderAccount, signInWith, takeAssertion } from "./account.js";
import { api } from "./api.js";
import { showClaim, showWaitlisted, tickClaim } from "./claim.js";
import { resumeLine, startJoin, tickRoom } from "./line.js";
import { $, S, go, notice, page, saleId, setText } from "./page.js";
import { onHold, refreshHold, tickPay } from "./pay.js";
import { showOrder, showResult } from "./results.js";
import { decideIdle, onSaleChange, pollSale, renderSale, takeSale, watchSale } from "./sale-info.js";
import { tickStart } from "./start.js";

// The steps the parts move the shopper to without importing each other (page.js's `go`).
Object.assign(go, { idle: decideIdle, join: () => startJoin(), claim: showClaim, hold: onHold });

function tick() {
  const now = clockNow();
  if (page.sale?.status === "scheduled" && now >= Date.parse(page.sale.starts_at)) {
    // Opening time: flip to open as the edge does (by the clock), then confirm with the server.
    page.sale = onTheClock(page.sale, now);
    renderSale();
    onSaleChange();
    pollSale();
  }
  tickStart(now);
  tickRoom(now);
  tickClaim(now);
  tickPay(now);
}

async function boot() {
  // The shop's assertion leaves the address bar first, whatever happens next.
  const assertion = takeAssertion();
  if (!SALE_ID.test(saleId)) return showResult("unknown");
  let r;
  try {
    r = await api.sale(saleId, { onRetry: notice });
  } catch {
    return showResult("error", { message: "The sale could not be reached. Check your connection.", retry: () => location.reload() });
  }
  if (r.status !== 200) {
    setText("product-name", "Sale not found");
    $("product").removeAttribute("aria-busy");
    return showResult("unknown");
  }
  takeSale(r.body);
  setInterval(tick, 250);
  watchSale();
  // Back from the shop's sign-in: a refusal shows the sign-in again, with the reason.
  if (assertion && !(await signInWith(assertion))) return;
  bindProgress();
  renderAccount();
  // Resume where this tab left off.
  if (S.orderId) return showOrder();
  if (S.holdId) return refreshHold();
  if (S.waitlisted != null) return showWaitlisted();
  if (S.pass && S.passExp > clockNow() + 5000) return showClaim();
  if (S.ticket) return resumeLine();
  if (S.joined) return startJoin();
  decideIdle();
}

boot();
