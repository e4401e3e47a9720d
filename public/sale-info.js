// The product and its live availability (on screen through every step), and what a shopper who
// has not started yet sees as the sale changes: the start, "sold out" or "ended".
import { now as clockNow, onTheClock } from "../domain/clock";
import { api } from "./api.js";
import { count, money, timeOfDay, when } from "./format.js";
import { $, S, el, page, saleId, setText, takeSaleAnswer, timers } from "./page.js";
import { showResult } from "./results.js";
import { showStart } from "./start.js";

const SALE_POLL_MS = 2000;

/** Keeps a GET /api/sales/:id answer and shows it. */
export function takeSale(body) {
  page.sale = onTheClock(body.sale, clockNow());
  takeSaleAnswer(body);
  renderSale();
}

export function renderSale() {
  const sale = page.sale;
  const p = sale.product;
  document.title = `${p.name}: flash sale`;
  setText("product-name", p.name);
  setText("price", money(p.price, p.currency));
  $("sale-status").className = `badge ${sale.status}`;
  setText("sale-status", { scheduled: "Opens soon", open: "On sale", paused: "Paused", closed: "Ended" }[sale.status] ?? sale.status);
  setText(
    "sale-when",
    sale.status === "scheduled"
      ? `Opens ${when(sale.starts_at)}`
      : sale.status === "closed"
        ? `Ended ${when(sale.ends_at)}`
        : `Until ${when(sale.ends_at)}`,
  );
  let text;
  if (!sale.sold_out) text = `${count(sale.available)} of ${count(sale.stock_total)} left`;
  else if (sale.release_policy === "release" && sale.held > 0) text = `Sold out for now: ${count(sale.held)} in unpaid carts may come back`;
  else if (sale.release_policy === "waitlist") text = "Sold out: you can join the waitlist";
  else text = "Sold out";
  setText("availability", text);
  $("availability").classList.toggle("low", sale.available <= Math.max(1, sale.stock_total / 10));
  const meter = $("stock-meter");
  meter.hidden = false;
  meter.max = sale.stock_total;
  meter.value = sale.available;
  meter.low = Math.max(1, sale.stock_total / 10);
  const minutes = Math.round(sale.hold_ttl_s / 60);
  const facts = [
    `Limit ${sale.per_user_limit} per ${sale.identity === "account" ? "shop account" : "shopper"}`,
    `Reserved for ${minutes >= 1 ? `${minutes} min` : `${sale.hold_ttl_s} s`} while you pay`,
  ];
  // The lottery window: arriving a second earlier than others buys nothing.
  const drawAt = Date.parse(sale.starts_at) + (sale.lottery_s ?? 0) * 1000;
  if (sale.lottery_s > 0 && clockNow() < drawAt) facts.push(`Everyone who joins by ${timeOfDay(drawAt)} has the same chance`);
  const list = $("facts");
  if (list.textContent !== facts.join("")) list.replaceChildren(...facts.map((f) => el("li", {}, f)));
  $("product").removeAttribute("aria-busy");
}

/** Polls the sale every 2 s while the tab is visible; 404 ends the page. */
export async function pollSale() {
  clearTimeout(timers.sale);
  if (!document.hidden) {
    try {
      const r = await api.sale(saleId, { retries: 0 });
      if (r.status === 200) {
        takeSale(r.body);
        onSaleChange();
      } else if (r.status === 404) {
        return showResult("unknown");
      }
    } catch {
      // Keep the last known numbers; the next poll tries again.
    }
  }
  timers.sale = setTimeout(pollSale, SALE_POLL_MS);
}
/** Starts the live availability (the first answer is already on screen). */
export function watchSale() {
  timers.sale = setTimeout(pollSale, SALE_POLL_MS);
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && page.sale) pollSale();
});

/** A shopper who has not started yet sees the sale's state as it changes. */
const fresh = () => !S.joined && !S.ticket && !S.holdId && !S.orderId && S.waitlisted == null;

export function onSaleChange() {
  const idleView =
    page.step === null ||
    page.step === "start" ||
    (page.step === "result" && ["soldout", "soldout_for_now", "ended"].includes(page.resultKind));
  if (fresh() && idleView) decideIdle();
}

/** Where a shopper who has not started stands: the start (sign-in or join), sold out, or ended. */
export function decideIdle() {
  const sale = page.sale;
  if (sale.status === "closed") return showResult("ended");
  if (sale.sold_out && sale.release_policy !== "waitlist") {
    return showResult(sale.held > 0 && sale.release_policy === "release" ? "soldout_for_now" : "soldout");
  }
  showStart();
}
