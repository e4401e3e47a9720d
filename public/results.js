// How a shopper's attempt ends (step 5): the order, a decline, an expiry, sold out, the
// waitlist, … and what an unexpected refusal means for them (`failed`).
import { api, ApiFailure } from "./api.js";
import { token, signInAgain } from "./account.js";
import { count, money, when } from "./format.js";
import { $, S, clearTimers, el, go, notice, page, session, setText, show, store } from "./page.js";

const RESULTS = {
  confirmed: ({ orderId }) => ({
    ok: true,
    title: "Order confirmed",
    body: [
      el("p", {}, "Thank you! Your order number is ", el("code", { id: "order-id" }, orderId), "."),
      el("dl", { id: "order-details" }),
    ],
  }),
  declined: ({ hold: h }) => ({
    title: "Payment declined",
    body: [
      el(
        "p",
        {},
        `Your card was declined${h?.reason ? ` (${h.reason.replaceAll("_", " ")})` : ""}. Nothing was charged and the unit went back on sale.`,
      ),
    ],
    again: "Try again",
  }),
  expired: () => ({
    title: "Your time to pay ran out",
    body: [el("p", {}, "The unit was released to other shoppers. If any are left you can claim again.")],
    again: "Try again",
  }),
  cancelled: () => ({
    title: "You released it",
    body: [el("p", {}, "The unit is back on sale for other shoppers.")],
    again: "Claim again",
  }),
  soldout: () => ({
    title: "Sold out",
    body: [el("p", {}, "Every unit has been sold. Thanks for your patience.")],
  }),
  soldout_for_now: () => ({
    title: "Sold out for now",
    body: [
      el(
        "p",
        {},
        "All units are in other shoppers' carts. Units that are not paid for in time come back: the availability above updates live.",
      ),
    ],
    again: "Try again",
  }),
  waitlisted: ({ position }) => ({
    title: "You're on the waitlist",
    body: [
      el("p", { role: "status", "aria-live": "polite", id: "waitlist-position" }, `Your place on the waitlist: ${count(position)}.`),
      el(
        "p",
        {},
        "When a unit comes back it is offered to the next shopper on the waitlist, with a fresh window to pay. Keep this page open: it checks every few seconds.",
      ),
    ],
  }),
  limit: () => ({
    title: "You already have yours",
    body: [el("p", {}, `This sale allows ${page.sale?.per_user_limit ?? 1} per shopper, and you have reached it.`)],
  }),
  ended: () => ({ title: "This sale has ended", body: [el("p", {}, "Thanks for stopping by.")] }),
  unknown: () => ({
    title: "Sale not found",
    body: [el("p", {}, "Check the link, or ", el("a", { href: "/" }, "go to the front page"), ".")],
  }),
  error: ({ message }) => ({ title: "Something went wrong", body: [el("p", {}, message)], again: "Try again" }),
};

let againAction = null;

/** Shows a result; `extra.retry` is what "Try again" does (else a new attempt: `tryAgain`). */
export function showResult(kind, extra = {}) {
  clearTimers();
  const r = RESULTS[kind](extra);
  setText("h-result", r.title);
  $("result-body").replaceChildren(...r.body);
  const section = /** @type {HTMLElement} */ (document.querySelector('section[data-step="result"]'));
  section.classList.toggle("result-ok", !!r.ok);
  section.classList.toggle("result-bad", !r.ok && kind !== "waitlisted");
  section.dataset.result = kind;
  $("again").hidden = !r.again;
  if (r.again) setText("again", r.again);
  againAction = extra.retry ?? tryAgain;
  page.resultKind = kind;
  show("result", `result:${kind}`);
}

$("again").addEventListener("click", () => againAction?.());

/** A new attempt in the same sale: a new claim key; back through the line only if needed. */
function tryAgain() {
  store.resetAttempt();
  if (S.ticket) return go.claim();
  go.join();
}

/** The confirmed order, with its details from GET /api/orders/:id once they arrive. */
export async function showOrder() {
  showResult("confirmed", { orderId: S.orderId });
  try {
    const r = await api.order(S.orderId, token(), { onRetry: notice });
    if (r.status === 200 && page.step === "result" && page.resultKind === "confirmed") {
      const o = r.body.order;
      $("order-details").replaceChildren(
        el("dt", {}, "Product"),
        el("dd", {}, page.sale?.product.name ?? o.sale_id),
        el("dt", {}, "Quantity"),
        el("dd", {}, String(o.qty)),
        el("dt", {}, "Paid"),
        el("dd", { id: "order-amount" }, money(o.amount, o.currency)),
        el("dt", {}, "Confirmed"),
        el("dd", {}, when(o.confirmed_at)),
      );
    }
  } catch {
    // The order id is already on screen; the details are a nicety.
  }
}

const sentence = (m) => `${m[0].toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? "" : "."}`;

/** An unexpected answer: the few that have a meaning of their own, else a retryable error. */
export function failed(e, retry) {
  if (e instanceof ApiFailure) {
    if (e.code === "sale_closed") return showResult("ended");
    // The sale needs an account this session is not (or no longer) for: sign in at the shop.
    if (e.code === "account_required" || e.code === "identity_invalid") return signInAgain(sentence(e.message), e.body.signin_url);
    if (e.code === "unauthorized") {
      if (page.sale?.identity === "account") return signInAgain("Your session has expired: please sign in again.");
      session.forget();
      store.startOver();
      return showResult("error", { message: "Your session expired. Start again to get back in line.", retry: () => go.join() });
    }
    if (e.code === "bot_suspected")
      return showResult("error", { message: "This browser was taken for an automated client. Try a regular browser window.", retry });
  }
  showResult("error", { message: e.message ? sentence(e.message) : "Please try again.", retry });
}
