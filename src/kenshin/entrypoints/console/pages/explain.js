// A slot's explanation (readings, flag, rules, method), shown whatever its shape:
// objects as term lists, lists of objects as tables, the rest as text.
import { h, table } from "../dom.js";
import { t } from "../i18n.js";

function value(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return table("explain-table", keys.map((k) => ({ label: k, value: (row) => text(row[k]) })), v);
    }
    return h("ul", {}, v.map((x) => h("li", {}, value(x))));
  }
  if (typeof v === "object") return terms(v);
  return text(v);
}

function text(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function terms(object) {
  return h("dl", { class: "terms" },
    Object.entries(object).map(([k, v]) => [h("dt", {}, k), h("dd", {}, value(v))]));
}

export function explanation(meter, slot, answer, date, close) {
  return h("div", { testid: "explain" },
    h("div", { class: "panel-head" },
      h("h2", {}, t("explain.heading", meter, slot)),
      h("div", {},
        h("a", { href: `#/meters/${encodeURIComponent(meter)}?date=${date}`, testid: "explain-meter-link" }, t("explain.open_meter")),
        " ",
        h("button", { type: "button", class: "secondary", testid: "explain-close", onclick: close }, t("close")))),
    value(answer));
}
