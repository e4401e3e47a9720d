// The shopper page for one sale (/sale?id=<sale>): countdown → waiting room (proof of work in a
// Web Worker, then position/ETA) → claim → payment within the hold's window → result.
// Only the public JSON API is used; progress lives in sessionStorage so a reload resumes.
import { onTheClock } from "../domain/clock";
import { SALE_ID } from "../domain/ids";
import { api, clock, count, money, newKey, roughly, saleState, when } from "./api.js";
import { cardForm } from "./stripe-pay.js";

const $ = (id) => document.getElementById(id);
const saleId = new URLSearchParams(location.search).get("id") ?? "demo";
const store = saleState(saleId);
const S = store.value; // token, tokenExp, joined, ticket, pass, passExp, claimKey, holdId, orderId, waitlisted

const SALE_POLL_MS = 2000;
const HOLD_POLL_MS = 1500;
const WAITLIST_POLL_MS = 5000;

let sale = null; // the last GET /api/sales/:id answer
let siteKey = ""; // Turnstile, when the operator configured it
let stripeKey = ""; // Stripe's publishable key, when payments go to Stripe (the card form)
let card = null; // the mounted card form (stripe-pay.js), for the hold it was made for
let hold = null; // the hold being paid for
let step = null;
let focusKey = null; // the step (and result kind) whose heading last got focus
let resultKind = null;
let opensAt = null; // pre-queue: when places are drawn
let paying = false;
let lastExpiryCheck = 0;
let warned = false;
const timers = { sale: 0, queue: 0, hold: 0, waitlist: 0 };

class ApiFailure extends Error {
  constructor(r) {
    super(r.body?.message ?? `HTTP ${r.status}`);
    this.status = r.status;
    this.code = r.body?.error;
  }
}

// ------------------------------------------------------------------ rendering helpers

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text; // an unchanged live region stays quiet
}

function notice(text = "") {
  setText("notice", text);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function clearTimers(...names) {
  for (const k of names.length ? names : ["queue", "hold", "waitlist"]) clearTimeout(timers[k]);
}

/**
 * Shows one step and moves focus to its heading when the step (or the result's kind) changes,
 * so keyboard and screen-reader users land on what is new. The very first view keeps the
 * browser's default focus (top of the page).
 */
function show(name, key = name) {
  for (const section of document.querySelectorAll("section[data-step]")) section.hidden = section.dataset.step !== name;
  document.body.dataset.step = name;
  step = name;
  if (focusKey !== null && focusKey !== key) $(`h-${name}`).focus();
  focusKey = key;
}

function renderSale() {
  const p = sale.product;
  document.title = `${p.name}: flash sale`;
  setText("product-name", p.name);
  setText("price", money(p.price, p.currency));
  const badge = $("sale-status");
  badge.className = `badge ${sale.status}`;
  setText("sale-status", { scheduled: "Opens soon", open: "On sale", paused: "Paused", closed: "Ended" }[sale.status] ?? sale.status);
  setText(
    "sale-when",
    sale.status === "scheduled" ? `Opens ${when(sale.starts_at)}` : sale.status === "closed" ? `Ended ${when(sale.ends_at)}` : `Until ${when(sale.ends_at)}`,
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
    `Limit ${sale.per_user_limit} per shopper`,
    `Reserved for ${minutes >= 1 ? `${minutes} min` : `${sale.hold_ttl_s} s`} while you pay`,
  ];
  const list = $("facts");
  if (list.textContent !== facts.join("")) list.replaceChildren(...facts.map((f) => el("li", {}, f)));
  $("product").removeAttribute("aria-busy");
}

// ------------------------------------------------------------------ live availability

async function pollSale() {
  clearTimeout(timers.sale);
  if (!document.hidden) {
    try {
      const r = await api.sale(saleId, { retries: 0 });
      if (r.status === 200) {
        sale = onTheClock(r.body.sale, Date.now());
        siteKey = r.body.turnstile_site_key ?? "";
        stripeKey = r.body.stripe_publishable_key ?? "";
        renderSale();
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
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && sale) pollSale();
});

/** A shopper who has not started yet sees the sale's state as it changes. */
const fresh = () => !S.joined && !S.ticket && !S.holdId && !S.orderId && S.waitlisted == null;

function onSaleChange() {
  const idleView = step === null || step === "start" || (step === "result" && ["soldout", "soldout_for_now", "ended"].includes(resultKind));
  if (fresh() && idleView) decideIdle();
}

function decideIdle() {
  if (sale.status === "closed") return showResult("ended");
  if (sale.sold_out && sale.release_policy !== "waitlist") {
    return showResult(sale.held > 0 && sale.release_policy === "release" ? "soldout_for_now" : "soldout");
  }
  showStart();
}

// ------------------------------------------------------------------ 1. countdown

function showStart() {
  const scheduled = sale.status === "scheduled";
  setText("h-start", scheduled ? "Opens soon" : sale.status === "paused" ? "The sale is paused" : "On sale now");
  $("start-countdown").hidden = !scheduled;
  setText(
    "start-help",
    scheduled
      ? "Join the line now: everyone who joins before the opening gets a place drawn at random when it opens, so there is no need to rush at the last second."
      : "Join the line to get your turn to buy: first come, first served from here.",
  );
  $("join").disabled = false;
  show("start");
  tick();
}

$("join").addEventListener("click", () => startJoin());

// ------------------------------------------------------------------ 2. waiting room

async function ensureSession() {
  if (S.token && Date.parse(S.tokenExp) > Date.now() + 60_000) return;
  const r = await api.session({ onRetry: notice });
  if (r.status !== 201 && r.status !== 200) throw new ApiFailure(r);
  // Tickets and passes are bound to the session's user: a new session starts the line over.
  for (const k of ["ticket", "pass", "passExp", "claimKey", "holdId", "orderId", "waitlisted"]) delete S[k];
  Object.assign(S, { token: r.body.token, tokenExp: r.body.expires_at });
  store.save();
}

/** Runs the proof of work in a module Web Worker (public/pow-worker.js, which imports pow.js). */
function solvePow(nonce, bits, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./pow-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (e) => {
      if (e.data.type === "progress") return onProgress(e.data.tries);
      worker.terminate();
      resolve(e.data);
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`the puzzle solver failed: ${e.message ?? "unknown error"}`));
    };
    worker.postMessage({ nonce, bits });
  });
}

/** Progress of the proof of work: the chance a solver would be done after `tries` (never 100% early). */
function showPowProgress(tries, bits, done) {
  const bar = $("pow-progress");
  const expected = 2 ** bits;
  bar.value = done ? 100 : Math.min(99, Math.round(100 * (1 - Math.exp(-tries / expected))));
  bar.dataset.tries = String(tries);
  bar.dataset.state = done ? "done" : "solving";
  setText("pow-label", done ? "Check complete" : "Checking this is a real browser");
  if (done) setText("pow-detail", `Solved after ${count(tries)} tries in ${(done.ms / 1000).toFixed(1)} s. Joining the line…`);
  else setText("pow-detail", `Solving a small puzzle so bots can't flood the line: ${count(tries)} of about ${count(expected)} tries. Keep this tab open.`);
}

let joining = false;

async function startJoin(retried = false) {
  if (joining) return;
  joining = true;
  clearTimers();
  S.joined = true;
  store.save();
  $("join").disabled = true;
  $("pow").hidden = false;
  $("line").hidden = true;
  const bar = $("pow-progress");
  bar.removeAttribute("value"); // indeterminate until the challenge arrives
  bar.dataset.tries = "0";
  bar.dataset.state = "starting";
  setText("pow-label", "Checking this is a real browser");
  setText("pow-detail", "Your browser solves a small puzzle once, so bots can't flood the line. Keep this tab open.");
  show("room");
  try {
    await ensureSession();
    const ch = await api.challenge(saleId, S.token, { onRetry: notice });
    if (ch.status !== 200) throw new ApiFailure(ch);
    const { nonce, bits, challenge } = ch.body;
    showPowProgress(0, bits, null);
    const done = await solvePow(nonce, bits, (tries) => showPowProgress(tries, bits, null));
    showPowProgress(done.tries, bits, done);
    const turnstile = siteKey ? await turnstileToken() : undefined;
    const r = await api.queue(saleId, S.token, { challenge, solution: done.solution, turnstile }, { onRetry: notice });
    notice();
    joining = false;
    if (r.status === 200 || r.status === 201) return onStanding(r.body);
    // A challenge that expired while this (slow) device was solving: one fresh try.
    if (r.body.error === "pow_failed" && !retried) return startJoin(true);
    throw new ApiFailure(r);
  } catch (e) {
    joining = false;
    failed(e, () => startJoin());
  }
}

/** Cloudflare Turnstile, only when the sale answers with a site key. */
function turnstileToken() {
  return new Promise((resolve, reject) => {
    const box = $("turnstile");
    const render = () => {
      box.replaceChildren();
      box.hidden = false;
      window.turnstile.render(box, {
        sitekey: siteKey,
        callback: (token) => {
          box.hidden = true;
          resolve(token);
        },
        "error-callback": () => reject(new Error("the human check (Turnstile) failed: reload the page to try again")),
      });
    };
    if (window.turnstile) return render();
    const script = el("script", { src: "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit", async: "" });
    script.onload = render;
    script.onerror = () => reject(new Error("the human check (Turnstile) could not be loaded"));
    document.head.append(script);
  });
}

/** Keeps what a queue answer carries; true when it holds a pass. */
function keepStanding(b) {
  S.ticket = b.ticket;
  S.ticketExp = b.ticket_expires_at;
  if (b.state === "admitted") {
    S.pass = b.pass;
    S.passExp = Date.parse(b.pass_expires_at);
  }
  store.save();
  return b.state === "admitted";
}

function onStanding(b) {
  clearTimers("queue");
  if (keepStanding(b)) return showClaim();
  $("pow").hidden = true;
  $("line").hidden = false;
  const bar = $("line-progress");
  if (b.position == null) {
    // Pre-queue: the place is drawn at the opening.
    opensAt = Date.now() + (b.opens_in_s ?? 0) * 1000;
    setText("position", "You're in the line.");
    bar.removeAttribute("value");
  } else {
    opensAt = null;
    S.firstPosition = Math.max(S.firstPosition ?? 0, b.position);
    store.save();
    setText("position", `You are number ${count(b.position)} in line.`);
    setText("eta", b.eta_s == null ? "Waiting time: not known yet." : `Estimated wait: ${roughly(b.eta_s)}.`);
    bar.max = S.firstPosition;
    bar.value = S.firstPosition - b.position;
  }
  show("room");
  tick();
  timers.queue = setTimeout(pollQueue, Math.max(1, b.refresh_s ?? 2) * 1000);
}

async function pollQueue() {
  try {
    await ensureSession();
    if (!S.ticket) return startJoin();
    const r = await api.poll(saleId, S.token, S.ticket, { onRetry: notice });
    notice();
    if (r.status === 200) return onStanding(r.body);
    if (r.status === 403) {
      // The ticket expired (or the session changed): queueing again keeps the place.
      delete S.ticket;
      store.save();
      return startJoin();
    }
    throw new ApiFailure(r);
  } catch (e) {
    if (String(e.message).startsWith("network")) {
      notice("Connection lost: still trying to reach the line…");
      timers.queue = setTimeout(pollQueue, 3000);
      return;
    }
    failed(e, () => pollQueue());
  }
}

/** A valid pass for the claim, renewed with the ticket when it expired; false = back in line. */
async function ensurePass() {
  if (S.pass && S.passExp > Date.now() + 5000) return true;
  await ensureSession();
  if (!S.ticket) {
    startJoin();
    return false;
  }
  const r = await api.poll(saleId, S.token, S.ticket, { onRetry: notice });
  if (r.status === 200) {
    if (keepStanding(r.body)) return true;
    onStanding(r.body);
    return false;
  }
  if (r.status === 403) {
    delete S.ticket;
    store.save();
    startJoin();
    return false;
  }
  throw new ApiFailure(r);
}

// ------------------------------------------------------------------ 3. claim

function showClaim() {
  clearTimers();
  // Admitted means the sale has opened, even if this page's clock tick has not run yet.
  sale = onTheClock(sale, Date.now());
  renderSale();
  const p = sale.product;
  const minutes = Math.round(sale.hold_ttl_s / 60);
  setText(
    "claim-help",
    `Claim it now and one ${p.name} is reserved for you for ${minutes >= 1 ? `${minutes} minute${minutes === 1 ? "" : "s"}` : `${sale.hold_ttl_s} seconds`} while you pay.`,
  );
  setText("claim", `Claim ${p.name} for ${money(p.price, p.currency)}`);
  $("claim").disabled = false;
  show("claim");
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
    const r = await api.claim(saleId, S.token, { pass: S.pass, key: S.claimKey, qty: 1 }, { onRetry: notice });
    notice();
    if (r.status === 201 || r.status === 200) {
      S.holdId = r.body.hold.id;
      delete S.waitlisted;
      store.save();
      return onHold(r.body.hold);
    }
    if (r.status === 202) {
      S.waitlisted = r.body.position;
      store.save();
      return showWaitlisted();
    }
    switch (r.body.error) {
      case "sold_out":
        delete S.claimKey;
        store.save();
        return showResult(r.body.held > 0 && sale.release_policy === "release" ? "soldout_for_now" : "soldout");
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
    if (step === "claim") $("claim").disabled = false;
  }
}

function showWaitlisted() {
  showResult("waitlisted", { position: S.waitlisted });
  // Claiming again (same key) answers with the hold once one is offered.
  timers.waitlist = setTimeout(() => claim(), WAITLIST_POLL_MS);
}

// ------------------------------------------------------------------ 4. payment

function onHold(h) {
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
  $("test-cards").hidden = !!stripeKey;
  $("stripe-card").hidden = !stripeKey;
  if (!stripeKey || card?.hold === hold.id) return;
  card?.form.unmount();
  card = null;
  try {
    card = { hold: hold.id, form: await cardForm(stripeKey, $("stripe-card-element"), { amount: hold.amount, currency: hold.currency }) };
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
  tick();
}

/** The payment method to pay with: a PaymentMethod id from Stripe's form, or the chosen test card. */
async function paymentMethod() {
  if (!stripeKey) return $("card").value;
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
  const again = await api.pay(hold.id, S.token, method ?? "tok_visa", { onRetry: notice });
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
    const r = await api.pay(hold.id, S.token, method, { onRetry: notice });
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
    const r = await api.cancel(hold.id, S.token, { onRetry: notice });
    if (r.status !== 200) throw new ApiFailure(r);
    onHold(r.body.hold);
  } catch (e) {
    failed(e, () => refreshHold());
  }
});

/** 202: the gateway's answer is not known yet; the hold stays reserved while we ask again. */
function awaitPayment() {
  payForm(false);
  setText("pay-status", hold?.action
    ? "Waiting for you to confirm the payment with your bank. Your unit stays reserved meanwhile."
    : "Waiting for the bank's answer. Your unit stays reserved meanwhile; this page updates by itself.");
  clearTimers("hold");
  timers.hold = setTimeout(refreshHold, HOLD_POLL_MS);
}

async function refreshHold() {
  clearTimers("hold");
  try {
    await ensureSession();
    const r = await api.hold(S.holdId, S.token, { onRetry: notice });
    notice();
    if (r.status === 200) {
      const h = r.body.hold;
      if (h.status === "pending") {
        const first = step !== "pay";
        hold = h;
        if (first) showPay();
        // A reloaded page whose payment waits for 3-D Secure offers it again (once per load).
        if (h.action && stripeKey && first) {
          await showCardField();
          if (card) return authenticate(undefined);
        }
        return awaitPayment();
      }
      if (h.status === "held" && step === "pay") {
        hold = h; // still ours (the page's clock may run ahead of the server's)
        return;
      }
      return onHold(h);
    }
    if (r.status === 404) {
      store.resetAttempt();
      return decideIdle();
    }
    throw new ApiFailure(r);
  } catch (e) {
    failed(e, () => refreshHold());
  }
}

// ------------------------------------------------------------------ 5. results

async function showOrder() {
  showResult("confirmed", { orderId: S.orderId });
  try {
    const r = await api.order(S.orderId, S.token, { onRetry: notice });
    if (r.status === 200 && step === "result" && resultKind === "confirmed") {
      const o = r.body.order;
      $("order-details").replaceChildren(
        el("dt", {}, "Product"),
        el("dd", {}, sale?.product.name ?? o.sale_id),
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
    body: [el("p", {}, `Your card was declined${h?.reason ? ` (${h.reason.replaceAll("_", " ")})` : ""}. Nothing was charged and the unit went back on sale.`)],
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
    body: [el("p", {}, "All units are in other shoppers' carts. Units that are not paid for in time come back: the availability above updates live.")],
    again: "Try again",
  }),
  waitlisted: ({ position }) => ({
    title: "You're on the waitlist",
    body: [
      el("p", { role: "status", "aria-live": "polite", id: "waitlist-position" }, `Your place on the waitlist: ${count(position)}.`),
      el("p", {}, "When a unit comes back it is offered to the next shopper on the waitlist, with a fresh window to pay. Keep this page open: it checks every few seconds."),
    ],
  }),
  limit: () => ({
    title: "You already have yours",
    body: [el("p", {}, `This sale allows ${sale?.per_user_limit ?? 1} per shopper, and you have reached it.`)],
  }),
  ended: () => ({ title: "This sale has ended", body: [el("p", {}, "Thanks for stopping by.")] }),
  unknown: () => ({ title: "Sale not found", body: [el("p", {}, "Check the link, or ", el("a", { href: "/" }, "go to the front page"), ".")] }),
  error: ({ message }) => ({ title: "Something went wrong", body: [el("p", {}, message)], again: "Try again" }),
};

let againAction = null;

function showResult(kind, extra = {}) {
  clearTimers();
  const r = RESULTS[kind](extra);
  setText("h-result", r.title);
  $("result-body").replaceChildren(...r.body);
  const section = document.querySelector('section[data-step="result"]');
  section.classList.toggle("result-ok", !!r.ok);
  section.classList.toggle("result-bad", !r.ok && kind !== "waitlisted");
  section.dataset.result = kind;
  $("again").hidden = !r.again;
  if (r.again) setText("again", r.again);
  againAction = extra.retry ?? tryAgain;
  resultKind = kind;
  show("result", `result:${kind}`);
}

$("again").addEventListener("click", () => againAction?.());

/** A new attempt in the same sale: a new claim key; back through the line only if needed. */
function tryAgain() {
  store.resetAttempt();
  hold = null;
  if (S.ticket) return showClaim();
  startJoin();
}

/** An unexpected answer: the few that have a meaning of their own, else a retryable error. */
function failed(e, retry) {
  if (e instanceof ApiFailure) {
    if (e.code === "sale_closed") return showResult("ended");
    if (e.code === "unauthorized") {
      for (const k of Object.keys(S)) delete S[k];
      store.save();
      return showResult("error", { message: "Your session expired. Start again to get back in line.", retry: () => startJoin() });
    }
    if (e.code === "bot_suspected") return showResult("error", { message: "This browser was taken for an automated client. Try a regular browser window.", retry });
  }
  showResult("error", { message: e.message ? `${e.message[0].toUpperCase()}${e.message.slice(1)}.` : "Please try again.", retry });
}

// ------------------------------------------------------------------ clocks

function tick() {
  const now = Date.now();
  if (sale?.status === "scheduled" && now >= Date.parse(sale.starts_at)) {
    // Opening time: flip to open as the edge does (by the clock), then confirm with the server.
    sale = onTheClock(sale, now);
    renderSale();
    onSaleChange();
    pollSale();
  }
  if (step === "start" && sale?.status === "scheduled") setText("start-countdown", `Opens in ${clock(Date.parse(sale.starts_at) - now)}`);
  if (step === "room" && opensAt !== null) {
    setText("eta", opensAt > now ? `The sale opens in ${clock(opensAt - now)}. Places in the line are drawn at random then.` : "The sale is opening: drawing places…");
  }
  if (step === "pay" && hold?.status === "held") {
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
}

// ------------------------------------------------------------------ start

async function boot() {
  if (!SALE_ID.test(saleId)) return showResult("unknown");
  let r;
  try {
    r = await api.sale(saleId, { onRetry: notice });
  } catch (e) {
    return showResult("error", { message: "The sale could not be reached. Check your connection.", retry: () => location.reload() });
  }
  if (r.status !== 200) {
    setText("product-name", "Sale not found");
    $("product").removeAttribute("aria-busy");
    return showResult("unknown");
  }
  sale = onTheClock(r.body.sale, Date.now());
  siteKey = r.body.turnstile_site_key ?? "";
  stripeKey = r.body.stripe_publishable_key ?? "";
  renderSale();
  setInterval(tick, 250);
  timers.sale = setTimeout(pollSale, SALE_POLL_MS);
  // Resume where this tab left off.
  if (S.orderId) return showOrder();
  if (S.holdId) return refreshHold();
  if (S.waitlisted != null) return showWaitlisted();
  if (S.pass && S.passExp > Date.now() + 5000) return showClaim();
  if (S.ticket) {
    $("pow").hidden = true;
    $("line").hidden = false;
    setText("position", "Checking your place in line…");
    show("room");
    return pollQueue();
  }
  if (S.joined) return startJoin();
  decideIdle();
}

boot();
