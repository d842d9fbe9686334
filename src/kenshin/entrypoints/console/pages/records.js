// Dead letters (messages kept with the reason they could not be used) and security
// events (refused logins, lockouts, refused requests) of the last day, newest first.
import { api } from "../api.js";
import { h, fmtTime, fmtBytes, table, badge } from "../dom.js";
import { t } from "../i18n.js";

const SEVERITY = { critical: "bad", warning: "warn", info: "info" };

function excerpt(text, length = 80) {
  return h("code", { class: "excerpt", title: text }, text.length > length ? `${text.slice(0, length)}…` : text);
}

function payload(r) {
  if (r.payload_text === null) return h("span", { class: "muted" }, t("letters.binary", fmtBytes(r.size)));
  return excerpt(r.payload_text);
}

async function page(main, { title, testid, route, columns }) {
  main.replaceChildren(h("h1", {}, title), h("p", { class: "loading" }, t("loading")));
  const { rows, truncated } = await api.list(route); // newest first
  const count = truncated ? t("rows_newest", rows.length) : t("rows_last_day", rows.length);
  main.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, title), h("span", { class: "muted", testid: `${testid}-count` }, count)),
    h("div", { class: "page", testid: `page-${testid}` },
      h("section", { class: "panel" }, table(`${testid}-table`, columns, rows))));
}

export function deadLetters(main) {
  return page(main, {
    title: t("nav.dead-letters"), testid: "dead-letters", route: "/api/v1/dead-letters",
    columns: [
      { label: t("letters.received"), value: (r) => fmtTime(r.received_at) },
      { label: t("letters.source"), value: (r) => h("div", {}, r.device ? h("code", {}, r.device) : "—", h("div", { class: "muted small" }, r.topic)) },
      { label: t("letters.reason"), value: (r) => r.reason },
      { label: t("letters.payload"), value: payload },
    ],
  });
}

export function securityEvents(main) {
  return page(main, {
    title: t("nav.security"), testid: "security", route: "/api/v1/security-events",
    columns: [
      { label: t("time"), value: (r) => fmtTime(r.at) },
      { label: t("alerts.severity"), value: (r) => badge(t(`severity.${r.severity}`), SEVERITY[r.severity] || "muted") },
      { label: t("security.kind"), value: (r) => h("code", {}, r.kind) },
      { label: t("security.who"), value: (r) => r.who || "—" },
      { label: t("security.address"), value: (r) => h("code", {}, r.address) },
      { label: t("security.detail"), value: (r) => r.detail },
    ],
  });
}
