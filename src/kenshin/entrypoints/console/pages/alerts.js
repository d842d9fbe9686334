// Alerts: those open (acknowledge, silence until a time) and the history.
import { api, listOf, path } from "../api.js";
import { h, fmtTime, table, badge, pick, confirmDialog, fromLocalInput } from "../dom.js";
import { t } from "../i18n.js";

function localInputValue(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function state(a) {
  if (pick(a, "resolved_at", "closed_at")) return badge(t("alerts.resolved"), "muted");
  const until = pick(a, "silenced_until");
  if (until && new Date(until) > new Date()) return badge(t("alerts.silenced", fmtTime(until)), "muted");
  if (pick(a, "acknowledged_at", "acknowledged_by")) return badge(t("alerts.acknowledged"), "info");
  return badge(t("alerts.open"), "bad");
}

function columns(actions) {
  const cols = [
    { label: t("alerts.since"), value: (a) => fmtTime(pick(a, "since", "opened_at", "raised_at", "at")) },
    { label: t("alerts.rule"), value: (a) => pick(a, "rule", "kind") },
    { label: t("alerts.subject"), value: (a) => pick(a, "subject", "summary", "message", "key") },
    { label: t("status"), value: state },
  ];
  if (actions) cols.push({ label: t("actions"), value: actions });
  return cols;
}

export async function render(main, { may }) {
  main.replaceChildren(h("h1", {}, t("nav.alerts")), h("p", { class: "loading" }, t("loading")));
  const data = await api.get("/api/v1/alerts");
  const all = listOf(data, "alerts");
  const open = Array.isArray(data) ? all.filter((a) => !pick(a, "resolved_at", "closed_at")) : listOf(data, "open");
  const history = Array.isArray(data) ? all.filter((a) => pick(a, "resolved_at", "closed_at")) : listOf(data, "history");
  const message = h("p", { class: "error", role: "alert", testid: "alerts-error", hidden: true });
  async function act(request) {
    try {
      await request();
      await render(main, { may });
    } catch (error) {
      message.textContent = error.message;
      message.hidden = false;
    }
  }
  const actions = may("change_fleet") ? (a) => h("div", { class: "row-actions" },
    h("button", { type: "button", class: "small", testid: "alert-acknowledge",
      disabled: Boolean(pick(a, "acknowledged_at", "acknowledged_by")),
      onclick: () => act(() => api.post(path`/api/v1/alerts/${a.key}/acknowledge`)) }, t("alerts.acknowledge")),
    h("button", { type: "button", class: "small secondary", testid: "alert-silence", onclick: async () => {
      const answer = await confirmDialog(t("alerts.silence_ask", pick(a, "subject", "summary", "key")), [
        { name: "until", label: t("alerts.until"), type: "datetime-local", value: localInputValue(new Date(Date.now() + 4 * 3600000)) }]);
      if (answer) act(() => api.post(path`/api/v1/alerts/${a.key}/silence`, { until: fromLocalInput(answer.until) }));
    } }, t("alerts.silence"))) : null;
  main.replaceChildren(h("h1", {}, t("nav.alerts")),
    h("div", { class: "page", testid: "page-alerts" }, message,
      h("section", { class: "panel" }, h("h2", {}, t("alerts.open_heading", open.length)),
        table("alerts-open", columns(actions), open, (a) => a.key)),
      h("section", { class: "panel" }, h("h2", {}, t("alerts.history")),
        table("alerts-history", [...columns(null),
          { label: t("alerts.resolved_at"), value: (a) => fmtTime(pick(a, "resolved_at", "closed_at")) }], history, (a) => a.key))));
}

