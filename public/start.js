// Step 1, before joining: the countdown to the opening, and the way in: the shop's sign-in for a
// sale that needs an account the shopper has not signed in with, else the "Join the line" button.
import { now as clockNow } from "../domain/clock";
import { renderAccount } from "./account.js";
import { clock } from "./format.js";
import { $, go, page, setText, show } from "./page.js";

export function showStart() {
  const sale = page.sale;
  const scheduled = sale.status === "scheduled";
  setText("h-start", scheduled ? "Opens soon" : sale.status === "paused" ? "The sale is paused" : "On sale now");
  $("start-countdown").hidden = !scheduled;
  setText(
    "start-help",
    scheduled
      ? "Join the line now: everyone who joins before the opening gets a place drawn at random when it opens, so there is no need to rush at the last second."
      : "Join the line to get your turn to buy: first come, first served from here.",
  );
  renderAccount();
  $("join").disabled = false;
  show("start");
  tickStart(clockNow());
}

$("join").addEventListener("click", () => go.join());

export function tickStart(now) {
  const sale = page.sale;
  if (page.step === "start" && sale?.status === "scheduled")
    setText("start-countdown", `Opens in ${clock(Date.parse(sale.starts_at) - now)}`);
}
