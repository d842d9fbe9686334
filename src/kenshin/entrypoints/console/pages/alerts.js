// Alerts: those open (acknowledge, silence until a time), the silences still running
// of alerts not open now, and the history of alerts that ended (where the server keeps it).
import { api, path } from "../api.js";
import { h, fmtTime, table, badge, confirmDialog, fromLocalInput } from "../dom.js";
import { t } from "../i18n.js";

const SEVERITY = { critical: "bad", warning: "warn", info: "info" };

function localInputValue(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function severity(a) {
  return badge(t(`severity.${a.severity}`), SEVERITY[a.severity] || "muted", "alert-severity");
}

function state(a) {
  const marks = [];
  if (a.silenced_until && new Date(a.silenced_until) > new Date()) {
    marks.push(badge(t("alerts.silenced", fmtTime(a.silenced_until)), "muted", "alert-silenced"));
  }
  if (a.acknowledged_at) {
    marks.push(badge(t("alerts.acknowledged_by", a.acknowledged_by || "—", fmtTime(a.acknowledged_at)), "info", "alert-acknowledged"));
  }
  return marks.length ? h("div", { class: "marks" }, marks) : badge(t("alerts.open"), "bad", "alert-state");
}

function what(a) {
  return h("div", { class: "alert-what" },
    h("strong", {}, a.title),
    a.text ? h("div", { class: "muted small" }, a.text) : null);
}

export async function render(main, { may }) {
  main.replaceChildren(h("h1", {}, t("nav.alerts")), h("p", { class: "loading" }, t("loading")));
  const data = await api.get("/api/v1/alerts");
  const history = Array.isArray(data.history) ? data.history : [];
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
  const columns = [
    { label: t("alerts.severity"), value: severity },
    { label: t("alerts.subject"), value: what },
    { label: t("customer"), value: (a) => a.customer || "—" },
    { label: t("alerts.since"), value: (a) => fmtTime(a.since) },
    { label: t("status"), value: state },
  ];
  if (may("change_fleet")) {
    columns.push({ label: t("actions"), value: (a) => h("div", { class: "row-actions" },
      h("button", { type: "button", class: "small", testid: "alert-acknowledge", disabled: Boolean(a.acknowledged_at),
        onclick: () => act(() => api.post(path`/api/v1/alerts/${a.key}/acknowledge`)) }, t("alerts.acknowledge")),
      h("button", { type: "button", class: "small secondary", testid: "alert-silence", onclick: async () => {
        const answer = await confirmDialog(t("alerts.silence_ask", a.title), [
          { name: "until", label: t("alerts.until"), type: "datetime-local", value: localInputValue(new Date(Date.now() + 4 * 3600000)) }]);
        if (answer) act(() => api.post(path`/api/v1/alerts/${a.key}/silence`, { until: fromLocalInput(answer.until) }));
      } }, t("alerts.silence"))) });
  }
  main.replaceChildren(h("h1", {}, t("nav.alerts")),
    h("div", { class: "page", testid: "page-alerts" }, message,
      h("section", { class: "panel" }, h("h2", {}, t("alerts.open_heading", data.open.length)),
        table("alerts-open", columns, data.open, (a) => a.key)),
      data.silenced.length ? h("section", { class: "panel" }, h("h2", {}, t("alerts.silenced_heading")),
        table("alerts-silenced", [
          { label: t("alerts.key"), value: (s) => h("code", {}, s.key) },
          { label: t("alerts.until"), value: (s) => fmtTime(s.silenced_until) },
          { label: t("alerts.by"), value: (s) => s.silenced_by || "—" },
        ], data.silenced, (s) => s.key)) : null,
      h("section", { class: "panel" }, h("h2", {}, t("alerts.history")),
        table("alerts-history", [
          { label: t("alerts.severity"), value: severity },
          { label: t("alerts.subject"), value: what },
          { label: t("customer"), value: (a) => a.customer || "—" },
          { label: t("alerts.since"), value: (a) => fmtTime(a.since) },
          { label: t("alerts.ended"), value: (a) => fmtTime(a.resolved_at) },
        ], history, (a) => `${a.key} ${a.since}`))));
}
