// Step 2, the waiting room: a session, a proof of work, a place in line (a signed ticket), then
// polls at the server's pace until admitted (a pass), or the time to claim ran out (`expired`:
// join again, at the back).
import { now as clockNow } from "../domain/clock";
import { ensureSession, token } from "./account.js";
import { api, ApiFailure } from "./api.js";
import { clock, count, roughly, timeOfDay } from "./format.js";
import { $, S, clearTimers, go, notice, page, saleId, setText, show, store, timers } from "./page.js";
import { powStarting, showPowProgress, solvePow } from "./puzzle.js";
import { failed } from "./results.js";
import { turnstileToken } from "./turnstile.js";

let joining = false;
let opensAt = null; // pre-queue: when the sale opens
let drawAt = null; // pre-queue: when places are drawn (everyone who joins by then has the same chance)

/** Challenge → proof of work → queue. `again`: the last place was spent (`expired`). */
export async function startJoin({ retried = false, again = false } = {}) {
  if (joining) return;
  joining = true;
  clearTimers();
  $("join").disabled = true;
  $("pow").hidden = false;
  $("line").hidden = true;
  setText("room-note", again ? "Your turn came, but the time to claim it ran out. You are joining the line again, at the back." : "");
  powStarting();
  show("room");
  try {
    await ensureSession();
    S.joined = true; // a reload joins again (after the session: a new user starts over)
    store.save();
    const ch = await api.challenge(saleId, token(), { onRetry: notice });
    if (ch.status !== 200) throw new ApiFailure(ch);
    const { nonce, bits, challenge } = ch.body;
    showPowProgress(0, bits, null);
    const done = await solvePow(nonce, bits, (tries) => showPowProgress(tries, bits, null));
    showPowProgress(done.tries, bits, done);
    const turnstile = page.siteKey ? await turnstileToken(page.siteKey) : undefined;
    // With the ticket it holds, the shopper keeps their place (a spent one gets a new place).
    const r = await api.queue(saleId, token(), { challenge, solution: done.solution, turnstile, ticket: S.ticket }, { onRetry: notice });
    notice();
    joining = false;
    if (r.status === 200 || r.status === 201) return onStanding(r.body);
    // A challenge that expired while this (slow) device was solving: one fresh try.
    if (r.body.error === "pow_failed" && !retried) return startJoin({ retried: true, again });
    throw new ApiFailure(r);
  } catch (e) {
    joining = false;
    failed(e, () => startJoin({ again }));
  }
}

/** Keeps what a queue answer carries; true when it holds a pass. */
function keepStanding(b) {
  S.ticket = b.ticket;
  S.ticketExp = b.ticket_expires_at;
  if (b.state === "admitted") {
    S.pass = b.pass;
    S.passExp = Date.parse(b.pass_expires_at);
    // The sale keeps a unit for each admitted shopper until then (claim.js says so).
    S.unitKeptUntil = b.unit_kept_until ? Date.parse(b.unit_kept_until) : null;
  }
  store.save();
  return b.state === "admitted";
}

/** Admitted, but the time to claim ran out: that place is spent; the shopper joins at the back. */
function rejoin(b) {
  S.ticket = b.ticket;
  for (const k of ["pass", "passExp", "firstPosition"]) delete S[k];
  store.save();
  startJoin({ again: true });
}

function onStanding(b) {
  clearTimers("queue");
  if (b.state === "expired") return rejoin(b);
  if (keepStanding(b)) return go.claim();
  $("pow").hidden = true;
  $("line").hidden = false;
  const bar = $("line-progress");
  if (b.state === "sold_out") {
    // No unit can come back; the place is kept, so a restock lets this page in (it asks again now and then).
    opensAt = drawAt = null;
    setText("position", "Sold out.");
    setText("eta", "Every unit is sold or paid for, so none can come back. If more are added, you keep your place: leave this page open.");
    bar.removeAttribute("value");
  } else if (b.position == null) {
    // Pre-queue: the place is drawn when the lottery window closes.
    opensAt = clockNow() + (b.opens_in_s ?? 0) * 1000;
    drawAt = b.draw_at ? Date.parse(b.draw_at) : opensAt;
    setText("position", "You're in the line.");
    bar.removeAttribute("value");
  } else {
    opensAt = drawAt = null;
    S.firstPosition = Math.max(S.firstPosition ?? 0, b.position);
    store.save();
    setText("position", `You are number ${count(b.position)} in line.`);
    setText("eta", b.eta_s == null ? "Waiting time: not known yet." : `Estimated wait: ${roughly(b.eta_s)}.`);
    bar.max = S.firstPosition;
    bar.value = S.firstPosition - b.position;
  }
  show("room");
  tickRoom(clockNow());
  timers.queue = setTimeout(pollQueue, Math.max(1, b.refresh_s ?? 2) * 1000);
}

/** Resumes a place in line after a reload. */
export function resumeLine() {
  $("pow").hidden = true;
  $("line").hidden = false;
  setText("position", "Checking your place in line…");
  show("room");
  return pollQueue();
}

async function pollQueue() {
  try {
    await ensureSession();
    if (!S.ticket) return startJoin();
    const r = await api.poll(saleId, token(), S.ticket, { onRetry: notice });
    notice();
    if (r.status === 200) return onStanding(r.body);
    if (r.status === 403) return lostTicket();
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

/** The ticket is no longer good (expired, or another session's): queue again, for a new place. */
function lostTicket() {
  delete S.ticket;
  store.save();
  startJoin();
}

/** A valid pass for the claim, renewed with the ticket when it expired; false = back in line. */
export async function ensurePass() {
  if (S.pass && S.passExp > clockNow() + 5000) return true;
  await ensureSession();
  if (!S.ticket) {
    startJoin();
    return false;
  }
  const r = await api.poll(saleId, token(), S.ticket, { onRetry: notice });
  if (r.status === 200) {
    if (keepStanding(r.body)) return true;
    onStanding(r.body);
    return false;
  }
  if (r.status === 403) {
    lostTicket();
    return false;
  }
  throw new ApiFailure(r);
}

export function tickRoom(now) {
  if (page.step !== "room" || opensAt === null) return;
  const same = `Everyone who joins by ${timeOfDay(drawAt)} has the same chance: places are drawn at random then.`;
  if (opensAt > now) setText("eta", `The sale opens in ${clock(opensAt - now)}. ${same}`);
  else if (drawAt > now) setText("eta", `The sale is open. ${same}`);
  else setText("eta", "Drawing places…");
}
