// Dead letters (messages kept with the reason they could not be used) and security
// events (refused logins, lockouts, refused requests), newest first.
import { api, listOf } from "../api.js";
import { h, fmtTime, table, pick } from "../dom.js";
import { t } from "../i18n.js";

function excerpt(value, length = 80) {
  if (value === null || value === undefined) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return h("code", { class: "excerpt", title: text }, text.length > length ? `${text.slice(0, length)}…` : text);
}

async function page(main, { title, testid, route, keys, columns }) {
  main.replaceChildren(h("h1", {}, title), h("p", { class: "loading" }, t("loading")));
  const rows = listOf(await api.get(route), ...keys);
  main.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, title), h("span", { class: "muted" }, t("rows", rows.length))),
    h("div", { class: "page", testid: `page-${testid}` },
      h("section", { class: "panel" }, table(`${testid}-table`, columns, rows, (r) => pick(r, "id", "key")))));
}

export function deadLetters(main) {
  return page(main, {
    title: t("nav.dead-letters"), testid: "dead-letters", route: "/api/v1/dead-letters", keys: ["dead_letters", "letters"],
    columns: [
      { label: t("letters.received"), value: (r) => fmtTime(pick(r, "received_at", "at")) },
      { label: t("letters.source"), value: (r) => pick(r, "device", "source", "topic") },
      { label: t("letters.reason"), value: (r) => pick(r, "reason") },
      { label: t("letters.payload"), value: (r) => excerpt(pick(r, "payload", "body")) },
    ],
  });
}

export function securityEvents(main) {
  return page(main, {
    title: t("nav.security"), testid: "security", route: "/api/v1/security-events", keys: ["events", "security_events"],
    columns: [
      { label: t("time"), value: (r) => fmtTime(pick(r, "at", "time")) },
      { label: t("security.kind"), value: (r) => pick(r, "kind", "event") },
      { label: t("security.who"), value: (r) => pick(r, "who", "name", "customer") },
      { label: t("security.address"), value: (r) => h("code", {}, pick(r, "address", "peer") || "—") },
      { label: t("security.detail"), value: (r) => pick(r, "detail", "reason") },
    ],
  });
}
