// The shopper's session, and the shop's sign-in for sales that need an account.
//
// An account sale (`identity: "account"`) accepts only a session made from the shop's signed
// identity assertion. The page links to the shop's sign-in (the sale's `signin_url`) with
// `return_to` = this page; the shop sends the shopper back with `#identity=<assertion>` in the
// fragment (which browsers never send to a server). The page takes it out of the address bar at
// once (so it is not bookmarked, shared or left in the history) and exchanges it at
// POST /api/session. An anonymous sale gets an anonymous session when the shopper joins; an
// account session serves it too.
import { now } from "../domain/clock";
import { api, ApiFailure } from "./api.js";
import { $, S, clearTimers, go, notice, page, session, setText, store } from "./page.js";
import { turnstileToken } from "./turnstile.js";

/** Why the shopper is asked to sign in (again), shown above the link until they do. */
let why = "";

const accountSale = () => page.sale?.identity === "account";
/** A session with a minute to spare (tokens last a day; a step never takes a minute). */
const usable = () => !!session.value.token && Date.parse(session.value.expires_at) > now() + 60_000;

/** The session's bearer token. */
export const token = () => session.value.token;

/** True when this sale needs an account the shopper has not signed in with. */
export const needsSignIn = () => accountSale() && !(usable() && session.value.account);

/** The sale's progress belongs to the session's user (tickets and passes name it). */
export function bindProgress() {
  const user = usable() ? session.value.user_id : undefined;
  if (S.user !== user) store.startOver(user);
}

function keep(body) {
  session.forget();
  Object.assign(session.value, { token: body.token, expires_at: body.expires_at, user_id: body.user_id, account: body.account ?? null });
  session.save();
  bindProgress();
}

async function newSession(identity) {
  const turnstile = page.siteKey ? await turnstileToken(page.siteKey) : undefined;
  const r = await api.session({ identity, turnstile, onRetry: notice });
  if (r.status !== 201 && r.status !== 200) throw new ApiFailure(r);
  keep(r.body);
}

/**
 * A session this sale accepts: the stored one, else (an anonymous sale) a new anonymous one.
 * An account sale without a signed-in account throws `account_required`, as the server would.
 */
export async function ensureSession() {
  if (usable() && (session.value.account || !accountSale())) return bindProgress();
  if (accountSale()) {
    const message = session.value.account
      ? "your sign-in has expired: sign in at the shop again"
      : "this sale needs a shop account: sign in at the shop first";
    throw new ApiFailure({ status: 401, body: { error: "account_required", message } });
  }
  await newSession(undefined);
}

/** The shop's assertion from the fragment (`#identity=…`), removed from the address bar; or null. */
export function takeAssertion() {
  const params = new URLSearchParams(location.hash.slice(1));
  const assertion = params.get("identity");
  if (assertion === null) return null;
  params.delete("identity");
  const rest = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  return assertion;
}

/** Exchanges the shop's assertion for a session; a refusal goes back to the sign-in. */
export async function signInWith(assertion) {
  setText("account-status", "Signing you in…");
  try {
    await newSession(assertion);
    why = "";
    // Said once for screen readers (and on screen for a moment); the header keeps showing who.
    const said = `Signed in as ${session.value.account ?? "a guest"}.`;
    setText("account-status", said);
    setTimeout(() => $("account-status").textContent === said && setText("account-status", ""), 5000);
    return true;
  } catch (e) {
    setText("account-status", "");
    const reason =
      e instanceof ApiFailure && e.code === "identity_invalid" ? "The shop's sign-in could not be checked" : "Signing in failed";
    signInAgain(`${reason} (${e.message}). Please sign in again.`);
    return false;
  }
}

/**
 * Back to the sign-in (an `account_required`, `identity_invalid` or `unauthorized` answer from
 * any step): the session is forgotten, and so is the progress made with it.
 */
export function signInAgain(message, signinUrl) {
  clearTimers();
  if (signinUrl) page.signinUrl = signinUrl;
  why = message;
  session.forget();
  store.startOver();
  go.idle();
  renderAccount();
}

function signOut() {
  session.forget();
  store.startOver();
  why = "";
  clearTimers();
  setText("account-status", "You are signed out.");
  go.idle();
  renderAccount();
  if (page.step === "start") $("h-start").focus(); // the button that had focus is gone
}
$("sign-out").addEventListener("click", signOut);

/**
 * The shop's sign-in with `return_to` = this page: a path when the sign-in is on this site (the
 * demo's takes only paths), the whole address when it is the shop's own site.
 */
function signInHref() {
  const url = new URL(page.signinUrl, location.href);
  const here = `${location.pathname}${location.search}`;
  const local = url.origin === location.origin;
  url.searchParams.set("return_to", local ? here : `${location.origin}${here}`);
  return local ? `${url.pathname}${url.search}` : url.href;
}

/** Who is signed in (the header), and the sign-in or the join button in the start step. */
export function renderAccount() {
  const account = usable() ? session.value.account : null;
  $("account").hidden = !account;
  if (account) setText("account-name", account);
  const needed = needsSignIn();
  $("signin").hidden = !needed;
  $("join").hidden = needed;
  if (!needed) return;
  setText("signin-message", why);
  const link = $("signin-link");
  link.hidden = !page.signinUrl;
  if (page.signinUrl) link.href = signInHref();
  setText(
    "signin-help",
    page.signinUrl
      ? "This sale is for the shop's customers: sign in with your shop account, then join the line. One account has one place in line, however many tabs or devices it uses."
      : "This sale is for the shop's customers, but the shop has not said where to sign in. Please ask the shop.",
  );
}
