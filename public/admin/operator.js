// The dashboard's side of the admin API: domain/client.js's admin part over fetch, with the
// operator's token kept for this tab only (sessionStorage: closing the tab forgets it). Behind
// Cloudflare Access no token is needed: the browser's Access session is the credential, and the
// Worker checks the JWT Access adds to every request.
import { createClient, fetchTransport } from "../../domain/client.js";

const KEY = "flashsale:admin-token";
const client = createClient({ transport: fetchTransport("", { cache: "no-store" }) });

export const token = {
  get: () => sessionStorage.getItem(KEY) ?? undefined,
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** The admin routes with this tab's token (if any). */
export const admin = () => client.admin(token.get());

/** An answer the page cannot use: its status, and the API's message. */
export class Refused extends Error {
  constructor(answer) {
    super(answer.body?.message ?? `HTTP ${answer.status}`);
    this.status = answer.status;
    this.code = answer.body?.error;
  }
}

/** The body of a 2xx answer; anything else is thrown as Refused (a network failure as itself). */
export async function body(call) {
  const r = await call(admin());
  if (r.status >= 200 && r.status < 300) return r.body;
  throw new Refused(r);
}

const count = new Intl.NumberFormat();
export const n = (v) => (typeof v === "number" ? count.format(v) : "–");
export const money = (minor, currency) => new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
export const when = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));

/** A small element builder: `el("td", { class: "x", dataset: { a: 1 } }, "text", child)`. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  e.append(...children.filter((c) => c !== undefined && c !== null && c !== false));
  return e;
}

/** A figure the page shows, with its raw value: `data-figure` is its path in the API's answer. */
export const figure = (label, path, value, shown = n(value)) =>
  el("div", { class: "fig" }, el("dt", {}, label), el("dd", { dataset: { figure: path, value: String(value ?? "") } }, shown));
