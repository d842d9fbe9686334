// Customers, and one customer's files (download links; files nobody has collected
// yet are marked) and meters.
import { api, path } from "../api.js";
import { h, fmtTime, fmtBytes, fmtNumber, table, badge, errorBox, isoDay } from "../dom.js";
import { t } from "../i18n.js";

async function list(main) {
  const customers = await api.get("/api/v1/customers");
  main.replaceChildren(h("h1", {}, t("nav.customers")),
    h("div", { class: "page", testid: "page-customers" },
      h("section", { class: "panel" }, table("customers-table", [
        { label: t("customer.id"), value: (c) => h("a", { href: `#/customers/${encodeURIComponent(c.id)}`, testid: "customer-link" }, c.id) },
        { label: t("customer.name"), value: (c) => c.name },
        { label: t("customer.zone"), value: (c) => c.timezone },
        { label: t("customer.layout"), value: (c) => `${c.layout} · ${c.encoding}` },
        { label: t("customer.files"), value: (c) => h("code", {}, c.file_pattern) },
      ], customers, (c) => c.id))));
}

function files(id, rows) {
  const sorted = [...rows].sort((a, b) => String(b.name).localeCompare(String(a.name)));
  const waiting = sorted.filter((f) => !f.collected_at).length;
  return h("section", { class: "panel" },
    h("div", { class: "panel-head" },
      h("h2", {}, t("files")),
      waiting ? badge(t("files.waiting", waiting), "warn", "files-uncollected-count") : null),
    table("files-table", [
      { label: t("files.name"), value: (f) => h("a", {
        href: path`/api/v1/customers/${id}/files/${f.name}`, download: f.name, testid: "file-download",
      }, f.name) },
      { label: t("files.revision"), num: true, value: (f) => (f.revision === null ? "—" : fmtNumber(f.revision)) },
      { label: t("files.size"), num: true, value: (f) => fmtBytes(f.size) },
      { label: t("files.collected"), value: (f) => (f.collected_at ? fmtTime(f.collected_at) : badge(t("files.uncollected"), "warn", "file-uncollected")) },
    ], sorted, (f) => f.name));
}

function meters(id, rows) {
  const yesterday = isoDay(-1);
  const service = (m) => (m.removed
    ? badge(t("meter.removed_at", fmtTime(m.removed)), "muted")
    : badge(t("meter.in_service"), "good"));
  return h("section", { class: "panel" },
    h("div", { class: "panel-head" },
      h("h2", {}, t("customer.meters")),
      h("a", { href: `#/quality?customer=${encodeURIComponent(id)}&date=${yesterday}`, testid: "customer-quality-link" }, t("nav.quality"))),
    table("customer-meters", [
      { label: t("meter"), value: (m) => h("a", { href: `#/meters/${encodeURIComponent(m.id)}?date=${yesterday}`, testid: "meter-link" }, m.id) },
      { label: t("meter.device"), value: (m) => h("code", {}, m.device) },
      { label: t("meter.register"), value: (m) => `${m.unit} × ${m.coefficient}` },
      { label: t("meter.max_demand"), num: true, value: (m) => `${fmtNumber(m.max_demand_kw, 1)} kW` },
      { label: t("status"), value: service },
    ], rows, (m) => m.id));
}

async function one(main, id) {
  main.replaceChildren(h("h1", {}, `${t("customer")} ${id}`), h("p", { class: "loading" }, t("loading")));
  const page = h("div", { class: "page", testid: "page-customer" });
  try {
    const [customer, fileList, meterList] = await Promise.all([
      api.get(path`/api/v1/customers/${id}`),
      api.get(path`/api/v1/customers/${id}/files`),
      api.get(`/api/v1/meters?customer=${encodeURIComponent(id)}`),
    ]);
    page.append(
      h("p", { class: "muted", testid: "customer-name" }, `${customer.name} · ${customer.timezone}`),
      meters(id, meterList),
      files(id, fileList));
  } catch (error) {
    page.append(errorBox(error));
  }
  main.replaceChildren(h("h1", {}, h("a", { href: "#/customers", class: "crumb" }, t("nav.customers")), " / ", id), page);
}

export function render(main, { args }) {
  return args[0] ? one(main, args[0]) : list(main);
}
