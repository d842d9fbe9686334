// Building the page: elements made with the DOM API (text is never parsed as HTML),
// tables, number and time formats, a confirmation dialog.
import { t, lang } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("a", {href: "#/x", testid: "link"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, likewise. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function asDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-12-05 14:30" in the browser's time zone, or an em dash. */
export function fmtTime(value) {
  const d = asDate(value);
  if (!d) return "—";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "5 min ago" (or its Japanese), from an ISO time or epoch seconds. */
export function fmtAgo(value) {
  const d = asDate(value);
  if (!d) return t("never");
  const seconds = Math.max(0, (Date.now() - d.getTime()) / 1000);
  const format = new Intl.RelativeTimeFormat(lang(), { numeric: "auto" });
  if (seconds < 60) return format.format(-Math.round(seconds), "second");
  if (seconds < 3600) return format.format(-Math.round(seconds / 60), "minute");
  if (seconds < 86400) return format.format(-Math.round(seconds / 3600), "hour");
  return format.format(-Math.round(seconds / 86400), "day");
}

export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || value === "") return "—";
  return Number(value).toLocaleString(lang(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtBytes(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1024) return `${fmtNumber(value)} B`;
  if (value < 1024 * 1024) return `${fmtNumber(value / 1024, 1)} KiB`;
  return `${fmtNumber(value / 1024 / 1024, 1)} MiB`;
}

/** A local date "YYYY-MM-DD", days from today. */
export function isoDay(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A datetime-local input's value as ISO 8601 (UTC), or null. */
export function fromLocalInput(value) {
  const d = value ? new Date(value) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

/**
 * A table: columns [{label, value(row, index) -> text|Node, num?: true, testid?}], rows.
 * Each row gets data-key (from key(row)) for tests to find it.
 */
export function table(testid, columns, rows, key = () => null) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, scope: "col" }, c.label)));
  const body = rows.map((row, i) =>
    h("tr", { "data-key": key(row) },
      columns.map((c) => h("td", { class: c.num ? "num" : null, testid: c.testid }, c.value(row, i) ?? "—"))),
  );
  if (!rows.length) body.push(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, t("none"))));
  return h("div", { class: "table-wrap" },
    h("table", { testid }, h("thead", {}, head), h("tbody", {}, body)));
}

export function badge(text, kind, testid) {
  return h("span", { class: `badge badge-${kind}`, testid }, text);
}

export function section(title, testid, ...content) {
  return h("section", { class: "panel", testid }, h("h2", {}, title), ...content);
}

/** An error from the API, shown where the page would be. */
export function errorBox(error) {
  return h("p", { class: "error", role: "alert", testid: "error" }, error.message || String(error));
}

/**
 * Ask before a change: a modal <dialog> with the message, optional fields
 * [{name, label, type, value}], and confirm/cancel. Resolves to the fields' values
 * (an object) or null when cancelled.
 */
export function confirmDialog(message, fields = []) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) =>
      h("input", { name: f.name, type: f.type || "text", value: f.value || "", required: true, testid: `confirm-${f.name}` }));
    const form = h("form", { method: "dialog" },
      h("p", {}, message),
      fields.map((f, i) => h("label", {}, f.label, inputs[i])),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", testid: "confirm-cancel", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "danger", testid: "confirm-ok" }, t("confirm"))));
    const dialog = h("dialog", { class: "confirm", testid: "confirm-dialog" }, form);
    function close(value) {
      dialog.close();
      dialog.remove();
      resolve(value);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      close(Object.fromEntries(inputs.map((input) => [input.name, input.value])));
    });
    dialog.addEventListener("cancel", () => close(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}
