// A slot explained: its rows in the customer's file (kWh, flag, the rules that fired),
// the register readings around it, and the revisions of its day's file.
import { h, fmtTime, table, badge } from "../dom.js";
import { t } from "../i18n.js";

function flag(value) {
  return h("span", { class: `swatch flag-${value}` }, value);
}

export function explanation(meter, slot, answer, date, close) {
  const time = (iso) => iso.slice(11, 16);
  return h("div", { testid: "explain" },
    h("div", { class: "panel-head" },
      h("h2", {}, t("explain.heading", meter, slot)),
      h("div", {},
        h("a", { href: `#/meters/${encodeURIComponent(meter)}?date=${date}`, testid: "explain-meter-link" }, t("explain.open_meter")),
        " ",
        h("button", { type: "button", class: "secondary small", testid: "explain-close", onclick: close }, t("close")))),
    h("p", { class: "muted" }, `${time(answer.start)}–${time(answer.end)} · ${answer.device} · ${answer.customer}`,
      answer.in_service ? null : [" · ", badge(t("meter.out_of_service"), "muted")]),
    h("h3", {}, t("explain.rows")),
    table("explain-rows", [
      { label: t("explain.register"), value: (r) => t(`direction.${r.direction}`) },
      { label: "kWh", num: true, value: (r) => r.kwh ?? "—" },
      { label: t("flag"), value: (r) => flag(r.flag) },
      { label: t("explain.reasons"), value: (r) => (r.reasons.length ? h("ul", { class: "reasons" }, r.reasons.map((x) => h("li", {}, x))) : "—") },
    ], answer.rows),
    h("h3", {}, t("explain.readings")),
    table("explain-readings", [
      { label: t("time"), value: (r) => r.t.slice(0, 19).replace("T", " ") },
      { label: t("explain.fwd"), num: true, value: (r) => r.fwd ?? "—" },
      { label: t("explain.rev"), num: true, value: (r) => r.rev ?? "—" },
    ], answer.readings),
    h("h3", {}, t("explain.revisions")),
    table("explain-revisions", [
      { label: t("files.revision"), num: true, value: (r) => r.revision },
      { label: t("status"), value: (r) => r.status },
      { label: t("files.name"), value: (r) => r.file_name },
      { label: t("users.created"), value: (r) => fmtTime(r.created_at) },
      { label: t("explain.estimated"), num: true, value: (r) => r.estimated_slots },
    ], answer.revisions));
}
