// The sales (GET /admin/sales): one row each, newest first, with its status and stock.
import { el, money, n, when } from "./operator.js";

const cell = (path, value, shown = n(value)) => el("td", { dataset: { figure: path, value: String(value) } }, shown);

export function renderList({ sales, total }, open) {
  const rows = sales.map(({ sale, stock }) =>
    el(
      "tr",
      { dataset: { sale: sale.id } },
      el(
        "th",
        { scope: "row" },
        el("a", { href: `/admin/?sale=${encodeURIComponent(sale.id)}`, onclick: (e) => open(e, sale.id) }, sale.id),
      ),
      el("td", {}, el("span", { class: `badge ${sale.status}`, dataset: { figure: "sale.status", value: sale.status } }, sale.status)),
      el("td", {}, sale.product.name, el("br"), el("span", { class: "muted" }, money(sale.product.price, sale.product.currency))),
      el(
        "td",
        { class: "mini" },
        el(
          "span",
          { class: "stockbar small", "aria-hidden": "true" },
          ...["available", "held", "sold", "withdrawn"].map((k) => el("span", { class: `part ${k}`, style: `flex-grow: ${stock[k]}` })),
        ),
      ),
      cell("stock.available", stock.available),
      cell("stock.held", stock.held),
      cell("stock.sold", stock.sold),
      cell("stock.stock_total", stock.stock_total),
      el("td", { class: "muted" }, `${when(sale.starts_at)} → ${when(sale.ends_at)}`),
    ),
  );
  document.getElementById("sales-rows").replaceChildren(...rows);
  document.getElementById("no-sales").hidden = sales.length > 0;
  document.getElementById("sales-more").textContent = total > sales.length ? `The ${n(sales.length)} newest of ${n(total)} sales.` : "";
}
