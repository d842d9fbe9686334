// Data quality of a customer's day: meters x 48 slots coloured by flag (A/E/Q/N); a
// click on a slot shows why it has its value (the explain route).
import { api, path } from "../api.js";
import { h, isoDay, errorBox } from "../dom.js";
import { heatmap, legend, FLAGS } from "../charts.js";
import { t } from "../i18n.js";
import { explanation } from "./explain.js";

export async function customerOptions(selected) {
  const customers = await api.get("/api/v1/customers");
  return customers.map((c) => h("option", { value: c.id, selected: c.id === selected }, c.name ? `${c.id} — ${c.name}` : c.id));
}

function counts(rows) {
  const found = Object.fromEntries(FLAGS.map((f) => [f, 0]));
  for (const row of rows) for (const flag of row.flags) found[flag] = (found[flag] || 0) + 1;
  return found;
}

export async function render(main, { query, navigate }) {
  const options = await customerOptions(query.get("customer"));
  const customer = query.get("customer") || (options[0] && options[0].value);
  const date = query.get("date") || isoDay(-1);
  const form = h("form", { class: "toolbar", testid: "quality-form" },
    h("label", {}, t("customer"), h("select", { name: "customer", testid: "quality-customer" }, options)),
    h("label", {}, t("date"), h("input", { type: "date", name: "date", value: date, required: true, testid: "quality-date" })),
    h("button", { type: "submit", testid: "quality-show" }, t("show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ customer: form.elements.customer.value, date: form.elements.date.value });
    navigate(`#/quality?${q}`);
  });
  const detail = h("aside", { class: "panel explain", testid: "explain-panel", hidden: true });
  const body = h("div", { class: "page", testid: "page-quality" }, form);
  main.replaceChildren(h("h1", {}, t("nav.quality")), body);
  if (!customer) return body.append(h("p", { class: "muted" }, t("quality.no_customer")));
  let quality;
  try {
    quality = await api.get(path`/api/v1/customers/${customer}/quality/${date}`);
  } catch (error) {
    return body.append(errorBox(error));
  }
  const rows = quality.meters;
  // A slot asked for by its local start ("2026-12-04T11:00"), with its offset
  // ("+01:00") where the clocks go back and that time comes twice.
  const local = quality.starts.map((start) => start.slice(0, 16));
  const slotOf = (i) => (local.indexOf(local[i]) !== local.lastIndexOf(local[i])
    ? local[i] + quality.starts[i].slice(19) : local[i]);
  async function pick(meter, i) {
    detail.hidden = false;
    detail.replaceChildren(h("p", { class: "loading" }, t("loading")));
    try {
      const answer = await api.get(`${path`/api/v1/meters/${meter}/explain`}?slot=${encodeURIComponent(slotOf(i))}`);
      detail.replaceChildren(explanation(meter, `${date} ${quality.starts[i].slice(11, 16)}`, answer, date, () => { detail.hidden = true; }));
      detail.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } catch (error) {
      detail.replaceChildren(errorBox(error));
    }
  }
  body.append(
    h("div", { class: "panel" },
      h("div", { class: "panel-head" },
        h("h2", {}, t("quality.heading", customer, date)),
        h("span", { class: "muted", testid: "quality-revision" },
          quality.revision === null ? t("meter.no_file") : t("meter.revision", quality.revision)),
        legend(counts(rows))),
      rows.length ? heatmap(rows, quality.starts, pick) : h("p", { class: "muted", testid: "quality-empty" }, t("quality.empty")),
      h("p", { class: "hint" }, t("quality.hint"))),
    detail);
}
