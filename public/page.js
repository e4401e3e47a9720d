// What every part of the shopper page shares: the DOM helpers, the sale this page is for and
// what the server said about it, the shopper's stored state, the visible step, the timers, and
// `go`, the steps by name (app.js fills it in), so that the parts can move the shopper on
// without importing each other in a circle.
import { saleState, sessionStore } from "./store.js";

/** An element of the page by id: its kind (input, button, dialog, meter) is the HTML's, so `any` here. @param {string} id @returns {any} */
export const $ = (id) => document.getElementById(id);

export function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text; // an unchanged live region stays quiet
}

/** The page-wide alert line (connection trouble, retries); empty hides it. */
export function notice(text = "") {
  setText("notice", text);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

export const saleId = new URLSearchParams(location.search).get("id") ?? "demo";
/** This tab's progress in the sale (store.js); `S` is its value, changed in place then saved. */
export const store = saleState(saleId);
export const S = store.value;
/** The shopper's session (store.js). */
export const session = sessionStore();

export const page = {
  /** The last GET /api/sales/:id answer's sale (on the page's clock). */
  sale: null,
  /** Turnstile's site key, when the operator configured it. */
  siteKey: "",
  /** Stripe's publishable key, when payments go to Stripe (the card form). */
  stripeKey: "",
  /** Where the shop signs shoppers in (account sales). */
  signinUrl: "",
  step: null,
  /** The kind of result on screen (step "result"). */
  resultKind: null,
};

/** Keeps what a GET /api/sales/:id answer says besides the sale. */
export function takeSaleAnswer(body) {
  page.siteKey = body.turnstile_site_key ?? "";
  page.stripeKey = body.stripe_publishable_key ?? "";
  page.signinUrl = body.signin_url ?? "";
}

/** The steps a part moves the shopper to without importing the part: { idle, join, claim, hold }. */
export const go = {};

export const timers = { sale: 0, queue: 0, hold: 0, waitlist: 0 };
export function clearTimers(...names) {
  for (const k of names.length ? names : ["queue", "hold", "waitlist"]) clearTimeout(timers[k]);
}

let focusKey = null; // the step (and result kind) whose heading last got focus

/**
 * Shows one step and moves focus to its heading when the step (or the result's kind) changes,
 * so keyboard and screen-reader users land on what is new. The very first view keeps the
 * browser's default focus (top of the page).
 */
export function show(name, key = name) {
  for (const section of document.querySelectorAll("section[data-step]"))
    if (section instanceof HTMLElement) section.hidden = section.dataset.step !== name;
  document.body.dataset.step = name;
  page.step = name;
  if (focusKey !== null && focusKey !== key) $(`h-${name}`).focus();
  focusKey = key;
}
