// The daily data-quality report of a day (as the report mail has it): the totals, the
// likely causes with what to do, and per customer the meters with problems, the silent
// units and the files not collected when due.
import { api } from "../api.js";
import { h, isoDay, fmtTime, fmtNumber, table } from "../dom.js";
import { t } from "../i18n.js";

const TOTALS = ["meters", "meters_with_problems", "missing", "estimated", "questionable", "silent_units", "not_collected", "dead_letters", "security_events"];

function totals(report) {
  return h("div", { class: "tiles compact", testid: "report-totals" }, TOTALS.map((key) => {
    const value = report.totals[key];
    const tone = key === "meters" ? null : value ? "warn" : "good";
    return h("div", { class: `tile${tone ? ` tile-${tone}` : ""}`, testid: `report-${key}` },
      h("span", { class: "tile-value" }, fmtNumber(value)), h("span", { class: "tile-label" }, t(`report.${key}`)));
  }));
}

function customer(c) {
  const ruleText = (m) => Object.entries(m.rules).map(([rule, n]) => `${rule} ${n}`).join(", ") || "—";
  return h("section", { class: "panel", testid: "report-customer", "data-customer": c.customer },
    h("div", { class: "panel-head" },
      h("h2", {}, h("a", { href: `#/customers/${encodeURIComponent(c.customer)}` }, c.customer)),
      h("span", { class: "muted" }, t("report.meters_of", c.meters))),
    h("h3", {}, t("report.problems")),
    table("report-problems", [
      { label: t("meter"), value: (m) => h("a", { href: `#/meters/${encodeURIComponent(m.meter)}` }, m.meter) },
      { label: t("meter.device"), value: (m) => h("code", {}, m.device) },
      { label: t("flag.N"), num: true, value: (m) => m.missing },
      { label: t("flag.E"), num: true, value: (m) => m.estimated },
      { label: t("flag.Q"), num: true, value: (m) => m.questionable },
      { label: t("report.rules"), value: ruleText },
    ], c.problems, (m) => m.meter),
    c.silent.length ? [h("h3", {}, t("report.silent")), table("report-silent", [
      { label: t("meter.device"), value: (u) => h("code", {}, u.device) },
      { label: t("device.last_seen"), value: (u) => (u.last_seen ? fmtTime(u.last_seen) : t("never")) },
    ], c.silent, (u) => u.device)] : null,
    c.not_collected.length ? [h("h3", {}, t("report.not_collected")), table("report-files", [
      { label: t("files.name"), value: (f) => f.name },
      { label: t("files.revision"), num: true, value: (f) => f.revision },
      { label: t("report.due"), value: (f) => fmtTime(f.due_at) },
      { label: t("files.collected"), value: (f) => (f.collected_at ? fmtTime(f.collected_at) : t("files.uncollected")) },
    ], c.not_collected, (f) => f.name)] : null);
}

export async function render(main, { query, navigate }) {
  const date = query.get("date") || isoDay(-1);
  const form = h("form", { class: "toolbar", testid: "report-form" },
    h("label", {}, t("date"), h("input", { type: "date", name: "date", value: date, required: true, testid: "report-date" })),
    h("button", { type: "submit", testid: "report-show" }, t("show")));
  form.addEventListener("submit", (event) => { event.preventDefault(); navigate(`#/report?date=${form.elements.date.value}`); });
  main.replaceChildren(h("h1", {}, t("nav.report")), h("p", { class: "loading" }, t("loading")));
  const report = await api.get(`/api/v1/report?date=${encodeURIComponent(date)}`);
  main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, t("nav.report")),
      h("span", { class: "muted", testid: "report-made" }, t("report.made", report.day, report.timezone, fmtTime(report.made_at)))),
    h("div", { class: "page", testid: "page-report" }, form, totals(report),
      h("section", { class: "panel" }, h("h2", {}, t("report.causes")),
        report.causes.length
          ? h("ul", { class: "causes", testid: "report-causes" }, report.causes.map((c) =>
            h("li", {}, h("strong", {}, c.text), h("div", { class: "muted" }, c.advice))))
          : h("p", { class: "muted", testid: "report-no-causes" }, t("report.no_causes"))),
      report.customers.map(customer)));
}
