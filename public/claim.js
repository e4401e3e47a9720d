// Step 3, admitted: the claim button while the pass lasts; a claim makes a hold to pay for (or a
// place on the waitlist of a sold-out sale that keeps one).
import { now as clockNow, onTheClock } from "../domain/clock";
import { token } from "./account.js";
import { api, ApiFailure, newKey } from "./api.js";
import { clock, money, timeOfDay } from "./format.js";
import { ensurePass } from "./line.js";
import { $, S, clearTimers, go, notice, page, saleId, setText, show, store, timers } from "./page.js";
import { failed, showResult } from "./results.js";
import { renderSale } from "./sale-info.js";

const WAITLIST_POLL_MS = 5000;

export function showClaim() {
  clearTimers();
  // Admitted means the sale has opened, even if this page's clock tick has not run yet.
  page.sale = onTheClock(page.sale, clockNow());
  renderSale();
  const { product: p, hold_ttl_s: ttl } = page.sale;
  const minutes = Math.round(ttl / 60);
  setText(
    "claim-help",
    (S.unitKeptUntil ? `One ${p.name} is kept for you until ${timeOfDay(S.unitKeptUntil)}. ` : "") +
      `Claim it and it is reserved for you for ${minutes >= 1 ? `${minutes} minute${minutes === 1 ? "" : "s"}` : `${ttl} seconds`} while you pay.`,
  );
  setText("claim", `Claim ${p.name} for ${money(p.price, p.currency)}`);
  $("claim").disabled = false;
  show("claim");
  tickClaim(clockNow());
}

$("claim").addEventListener("click", () => claim());

async function claim(retried = false) {
  $("claim").disabled = true;
  try {
    if (!(await ensurePass())) return;
    if (!S.claimKey) {
      S.claimKey = newKey(); // one key per attempt: a repeated click or a retry gets the same hold
      store.save();
    }
    const r = await api.claim(saleId, token(), { pass: S.pass, key: S.claimKey, qty: 1 }, { onRetry: notice });
    notice();
    if (r.status === 201 || r.status === 200) {
      S.holdId = r.body.hold.id;
      delete S.waitlisted;
      store.save();
      return go.hold(r.body.hold);
    }
    if (r.status === 202) {
      S.waitlisted = r.body.position;
      store.save();
      return showWaitlisted();
    }
    switch (r.body.error) {
      case "sold_out":
        // Final on a waitlist sale too (nothing can come back): the page leaves the list with it.
        delete S.claimKey;
        delete S.waitlisted;
        store.save();
        return showResult(r.body.held > 0 && page.sale.release_policy === "release" ? "soldout_for_now" : "soldout");
      case "limit_reached":
        return showResult("limit");
      case "sale_closed":
        return showResult("ended");
      case "not_open":
        notice(r.body.message === "the sale is paused" ? "The sale is paused: try again in a moment." : "The sale has not opened yet.");
        $("claim").disabled = false;
        return;
      case "pass_required":
        // The pass expired in between: renew it with the ticket, once.
        S.pass = null;
        store.save();
        if (!retried) return claim(true);
    }
    throw new ApiFailure(r);
  } catch (e) {
    failed(e, () => claim());
  } finally {
    if (page.step === "claim") $("claim").disabled = false;
  }
}

export function showWaitlisted() {
  showResult("waitlisted", { position: S.waitlisted });
  // Claiming again (same key) answers with the hold once one is offered.
  timers.waitlist = setTimeout(() => claim(), WAITLIST_POLL_MS);
}

/** The time left to claim; once it is over, a click joins the line again (at the back). */
export function tickClaim(now) {
  if (page.step !== "claim" || !S.passExp) return;
  const left = S.passExp - now;
  setText(
    "claim-timer",
    left > 0 ? `Your turn lasts another ${clock(left)}.` : "Your turn has ended: claiming now puts you back in the line, at the back.",
  );
  $("claim-timer").classList.toggle("urgent", left < 30_000);
}
