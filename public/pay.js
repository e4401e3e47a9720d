// Step 4, payment within the hold's window: the card (a test card, or Stripe's Payment Element),
// 3-D Secure when the bank asks, and a payment whose outcome is not known yet asked about again
// (never paid twice blindly).
import { now as clockNow } from "../domain/clock";
import { ensureSession, token } from "./account.js";
import { api, ApiFailure } from "./api.js";
import { clock, money } from "./format.js";
import { $, S, clearTimers, go, notice, page, setText, show, store, timers } from "./page.js";
import { failed, showOrder, showResult } from "./results.js";
import { cardForm } from "./stripe-pay.js";

const HOLD_POLL_MS = 1500;

let hold = null; // the hold being paid for
let card = null; // the mounted card form (stripe-pay.js), for the hold it was made for
let paying = false;
let warned = false;
let lastExpiryCheck = 0;

/** Where a hold leaves the shopper: paying, waiting for the bank, the order, or how it ended. */
export function onHold(h) {
  hold = h;
  switch (h.status) {
    case "held":
      return showPay();
    case "pending":
      showPay();
      return awaitPayment();
    case "confirmed":
      S.orderId = h.order_id;
      store.save();
      return showOrder();
    default:
      return showResult(h.status, { hold: h }); // expired, cancelled, declined
  }
}

function payForm(enabled) {
  for (const id of ["card", "pay", "cancel"]) $(id).disabled = !enabled;
}

/**
 * The card field: Stripe's Payment Element when payments go to Stripe (a publishable key came
 * with the sale), else the test cards of the simulated gateway.
 */
async function showCardField() {
  const key = page.stripeKey;
  $("test-cards").hidden = !!key;
  $("stripe-card").hidden = !key;
  if (!key || card?.hold === hold.id) return;
  card?.form.unmount();
  card = null;
  try {
    card = { hold: hold.id, form: await cardForm(key, $("stripe-card-element"), { amount: hold.amount, currency: hold.currency }) };
  } catch (e) {
    notice(`The card form could not be loaded (${e.message}). Reload the page to try again.`);
  }
}

function showPay() {
  clearTimers();
  warned = false;
  setText("pay", `Pay ${money(hold.amount, hold.currency)}`);
  setText("pay-status", "");
  setText("hold-warning", "");
  payForm(true);
  show("pay");
  void showCardField();
  tickPay(clockNow());
}

/** The payment method to pay with: a PaymentMethod id from Stripe's form, or the chosen test card. */
async function paymentMethod() {
  if (!page.stripeKey) return $("card").value;
  if (!card) throw new Error("the card form is not ready");
  return card.form.method();
}

/** The answer to a payment: an order, a wait (maybe for 3-D Secure first), or how the hold ended. */
async function onPayAnswer(r, method) {
  if (r.status === 200) {
    S.orderId = r.body.order_id;
    store.save();
    hold = r.body.hold;
    return showOrder();
  }
  if (r.status === 202) {
    hold = r.body.hold;
    if (hold.action && card) return authenticate(method);
    return awaitPayment();
  }
  if (r.status === 409 && r.body.error === "card_limit_reached" && !r.body.hold) {
    // Refused before any charge: this card has bought the limit; another card may pay.
    setText("pay-status", r.body.message);
    return payForm(true);
  }
  if (r.body.hold) return onHold(r.body.hold); // 402 declined, 409 card over the limit (refunded), 410 ended
  throw new ApiFailure(r);
}

/** 3-D Secure: Stripe.js shows the bank's check, then the hold's payment is asked about again. */
async function authenticate(method) {
  setText("pay-status", "Your bank wants to confirm it's you…");
  try {
    await card.form.authenticate(hold.action.client_secret);
  } catch (e) {
    notice(e.message); // failed or closed: the payment says which when asked again
  }
  const again = await api.pay(hold.id, token(), method ?? "tok_visa", { onRetry: notice });
  if (again.status === 202) {
    hold = again.body.hold;
    return awaitPayment();
  }
  return onPayAnswer(again, method);
}

$("pay-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  paying = true;
  payForm(false);
  setText("pay-status", "Charging your card…");
  const slow = setTimeout(() => setText("pay-status", "Still waiting for the payment gateway: this can take a few seconds…"), 3000);
  let method;
  try {
    method = await paymentMethod();
  } catch (err) {
    clearTimeout(slow);
    paying = false;
    setText("pay-status", err.message); // nothing was sent: the shopper corrects the card
    return payForm(true);
  }
  try {
    const r = await api.pay(hold.id, token(), method, { onRetry: notice });
    notice();
    await onPayAnswer(r, method);
  } catch (err) {
    // Whether the charge went through is unknown: ask the hold, never pay twice blindly.
    notice(`Could not confirm the payment (${err.message}); checking…`);
    timers.hold = setTimeout(refreshHold, HOLD_POLL_MS);
  } finally {
    clearTimeout(slow);
    paying = false;
  }
});

$("cancel").addEventListener("click", async () => {
  payForm(false);
  try {
    const r = await api.cancel(hold.id, token(), { onRetry: notice });
    if (r.status !== 200) throw new ApiFailure(r);
    onHold(r.body.hold);
  } catch (e) {
    failed(e, () => refreshHold());
  }
});

/** When a queued payment's turn comes, in words ("in about 40 s"). */
const turnIn = (eta) => {
  const s = Math.max(1, Math.round((Date.parse(eta) - clockNow()) / 1000));
  return s < 90 ? `in about ${s} s` : `in about ${Math.round(s / 60)} min`;
};

/**
 * 202: the gateway's answer is not known yet, or the payment is queued under the payment
 * provider's rate limit (`hold.queue`); the hold stays reserved while we ask again.
 */
function awaitPayment() {
  payForm(false);
  setText(
    "pay-status",
    hold?.action
      ? "Waiting for you to confirm the payment with your bank. Your unit stays reserved meanwhile."
      : hold?.queue
        ? `Payment queued: number ${hold.queue.position} in line, your turn ${turnIn(hold.queue.eta)}. Your unit stays reserved until then; this page updates by itself.`
        : "Waiting for the bank's answer. Your unit stays reserved meanwhile; this page updates by itself.",
  );
  clearTimers("hold");
  timers.hold = setTimeout(refreshHold, HOLD_POLL_MS);
}

/** The hold as the server has it now (after a reload, an unknown payment, the end of the window). */
export async function refreshHold() {
  clearTimers("hold");
  try {
    await ensureSession();
    if (!S.holdId) return go.idle(); // another session's progress was just set aside
    const r = await api.hold(S.holdId, token(), { onRetry: notice });
    notice();
    if (r.status === 200) {
      const h = r.body.hold;
      if (h.status === "pending") {
        const first = page.step !== "pay";
        hold = h;
        if (first) showPay();
        // A reloaded page whose payment waits for 3-D Secure offers it again (once per load).
        if (h.action && page.stripeKey && first) {
          await showCardField();
          if (card) return authenticate(undefined);
        }
        return awaitPayment();
      }
      if (h.status === "held" && page.step === "pay") {
        // Still ours (the page's clock may run ahead of the server's). Back from `pending`: a
        // queued payment refused at its turn before any charge (the card's limit): another card may pay.
        const back = hold?.status === "pending";
        hold = h;
        if (back) {
          paying = false;
          setText("pay-status", h.reason ?? "");
          payForm(true);
        }
        return;
      }
      return onHold(h);
    }
    if (r.status === 404) {
      store.resetAttempt();
      return go.idle();
    }
    throw new ApiFailure(r);
  } catch (e) {
    failed(e, () => refreshHold());
  }
}

/** The hold's countdown; at zero the server is asked how the hold ended. */
export function tickPay(now) {
  if (page.step !== "pay" || hold?.status !== "held") return;
  const expires = Date.parse(hold.expires_at);
  const left = expires - now;
  setText("hold-timer", clock(left));
  $("hold-timer").classList.toggle("urgent", left < 30_000);
  const bar = $("hold-progress");
  bar.max = Math.max(1, expires - Date.parse(hold.created_at));
  bar.value = Math.max(0, left);
  if (left < 30_000 && left > 0 && !warned) {
    warned = true;
    setText("hold-warning", "Less than 30 seconds left to pay.");
  }
  if (left <= 0 && !paying && now - lastExpiryCheck > 2000) {
    lastExpiryCheck = now;
    refreshHold();
  }
}
