// The operator's dashboard at /admin/: the list of sales, and one sale live (figures, charts of
// the last hour, actions). A static page with nothing in it: every figure comes from the admin
// API, which checks the token (or, behind Cloudflare Access, the Access JWT) on every call.
// Views: sign-in (when the API says 401), the list (/admin/), a sale (/admin/?sale=<id>).
import { now as clockNow } from "../../domain/clock";
import { CHARTS, History, mountChart } from "./charts.js";
import { renderList } from "./list-view.js";
import { body, el, Refused, token } from "./operator.js";
import { renderSale, wireActions } from "./sale-view.js";

/** An element of the page by id: its kind (input, button, dialog, meter) is the HTML's, so `any` here. @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);
const SALE_MS = 2000; // a sale's figures and history
const LIST_MS = 5000;

/** What is on screen; `gen` changes on every navigation, which ends the previous view's polling. */
const state = { gen: 0, sale: null, history: null, charts: null, timer: undefined };

function show(view) {
  for (const v of ["sign-in", "sales", "sale"]) $(`view-${v}`).hidden = v !== view;
  document.body.dataset.view = view;
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;
function notice(text, kind = "info") {
  const t = $("toast");
  t.textContent = text;
  t.dataset.kind = kind;
  clearTimeout(noticeTimer);
  if (text && kind === "info") noticeTimer = setTimeout(() => (t.textContent = ""), 8000);
}

/** Who the API took us for: a token in this tab, or Cloudflare Access's session. */
function signedIn() {
  const t = token.get();
  $("who").textContent = t ? "Signed in with the admin token (this tab only)" : "Signed in through Cloudflare Access";
  $("sign-out").hidden = !t;
}

/** A refusal: 401 goes back to the sign-in (a kept token that is refused is forgotten); others are shown. */
function refused(e) {
  if (e instanceof Refused && e.status === 401) {
    const had = token.get();
    token.clear();
    state.gen++;
    show("sign-in");
    $("sign-in-error").textContent = had ? `That token was refused: ${e.message}` : "";
    $("token").focus();
    return;
  }
  notice(
    e instanceof Refused ? `${e.code ?? e.status}: ${e.message}` : `The server could not be reached (${e.message}); retrying.`,
    "error",
  );
}

/** Runs `tick` now and every `ms` while the view that started it is on screen. */
function poll(tick, ms) {
  const gen = ++state.gen;
  clearTimeout(state.timer);
  const run = async () => {
    if (gen !== state.gen) return;
    try {
      await tick();
    } catch (e) {
      refused(e);
    }
    if (gen === state.gen) state.timer = setTimeout(run, ms);
  };
  return run();
}

// ------------------------------------------------------------------ the list

function openList() {
  show("sales");
  document.title = "Sales · flashsale operator";
  let renders = 0;
  return poll(async () => {
    renderList(await body((a) => a.list()), openSaleLink);
    signedIn();
    document.body.dataset.listRenders = String(++renders);
  }, LIST_MS);
}

function openSaleLink(e, id) {
  if (e.metaKey || e.ctrlKey || e.shiftKey) return; // a new tab: let the link work
  e.preventDefault();
  history.pushState(null, "", `/admin/?sale=${encodeURIComponent(id)}`);
  route();
}

// ------------------------------------------------------------------ one sale

function mountCharts() {
  if (state.charts) return state.charts;
  const cards = CHARTS.map((c) =>
    el(
      "section",
      { class: "card chart", id: `chart-${c.id}`, "aria-label": c.title },
      el("h3", {}, c.title),
      el("div", { class: "plot" }),
      c.kind === "count" ? el("ul", { class: "totals", "aria-label": "totals over the last hour" }) : null,
    ),
  );
  $("charts").replaceChildren(...cards);
  state.charts = CHARTS.map((c, i) => mountChart(cards[i], c));
  return state.charts;
}

/**
 * Draws the window chosen (5 minutes to the hour the objects keep), starting no earlier than a
 * little before the sale's first row, so a young sale's burst is not squeezed against the edge.
 */
function drawCharts() {
  const h = state.history;
  if (!h || !state.charts) return;
  const to = h.now;
  const first = h.first() ?? to;
  const from = Math.min(to - 59, Math.max(to - Number($("window").value) + 1, first - 15));
  for (const c of state.charts) c.update(h, from, to);
}

let saleRenders = 0;
async function refreshSale(id) {
  const since = state.history.last ? state.history.last - 5 : undefined;
  const [stats, series, pacing] = await Promise.all([
    body((a) => a.stats(id)),
    body((a) => a.series(id, since)),
    // The pacer's rates change only with a deploy: asked once per sale opened.
    state.pacing ?? body((a) => a.payments()).catch(() => null),
  ]);
  if (state.sale !== id) return;
  state.pacing = pacing;
  renderSale(stats, pacing);
  state.history.merge(series);
  drawCharts();
  signedIn();
  $("updated").textContent = `Live · updated ${new Date(clockNow()).toLocaleTimeString()}`;
  document.body.dataset.renders = String(++saleRenders);
}

function openSale(id) {
  show("sale");
  document.title = `${id} · flashsale operator`;
  mountCharts();
  if (state.sale !== id) {
    state.sale = id;
    state.history = new History();
  }
  return poll(() => refreshSale(id), SALE_MS);
}

// ------------------------------------------------------------------ start

function route() {
  notice("");
  const id = new URLSearchParams(location.search).get("sale");
  if (!id) {
    state.sale = null;
    return openList();
  }
  return openSale(id);
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  if (!t) return;
  token.set(t);
  $("token").value = "";
  $("sign-in-error").textContent = "";
  route();
});
$("sign-out").addEventListener("click", () => {
  token.clear();
  state.gen++;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  show("sign-in");
});
$("window").addEventListener("change", drawCharts);
addEventListener("popstate", route);
wireActions({
  current: () => state.sale,
  done: async (what) => {
    notice(what);
    if (state.sale) await refreshSale(state.sale).catch(refused);
  },
  failed: refused,
});

route();
