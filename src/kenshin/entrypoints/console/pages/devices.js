// Devices (meter units): when last heard, firmware, signal; revoke one or ask it to
// send a span of readings again (operators and admins; viewers see no buttons, and
// the server refuses them anyway).
import { api, path } from "../api.js";
import { h, fmtTime, fmtAgo, table, badge, confirmDialog, fromLocalInput } from "../dom.js";
import { t } from "../i18n.js";

const TONES = { online: "good", silent: "warn", never_seen: "muted", revoked: "bad" };

function status(d) {
  const name = d.revoked ? "revoked" : d.status;
  return badge(t(`device.${name}`), TONES[name] || "muted", "device-status");
}

/** The certificate's state as the API words it ("valid until 2027-01-31", "revoked
 * 2026-12-01", "expired ...", "none"), in the page's language. */
function certificate(text) {
  const found = /^(valid until|revoked|expired) (\d{4}-\d{2}-\d{2})$/.exec(text);
  if (!found) return text === "none" ? t("cert.none") : text;
  const kind = { "valid until": "valid", revoked: "revoked", expired: "expired" }[found[1]];
  return t(`cert.${kind}`, found[2]);
}

function localInput(offsetHours) {
  const d = new Date(Date.now() + offsetHours * 3600000);
  d.setMinutes(d.getMinutes() >= 30 ? 30 : 0, 0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function actions(refresh, report) {
  return (d) => h("div", { class: "row-actions" },
    h("button", { type: "button", class: "small secondary", testid: "device-resend", disabled: Boolean(d.revoked), onclick: async () => {
      const answer = await confirmDialog(t("device.resend_ask", d.id), [
        { name: "since", label: t("device.since"), type: "datetime-local", value: localInput(-6) },
        { name: "until", label: t("device.until"), type: "datetime-local", value: localInput(0) }]);
      if (answer) report(() => api.post(path`/api/v1/devices/${d.id}/resend`,
        { since: fromLocalInput(answer.since), until: fromLocalInput(answer.until) }), t("device.resend_sent", d.id));
    } }, t("device.resend")),
    h("button", { type: "button", class: "small danger", testid: "device-revoke", disabled: Boolean(d.revoked), onclick: async () => {
      if (await confirmDialog(t("device.revoke_ask", d.id))) {
        // What the server did: a unit with no certificate has nothing to revoke.
        const said = (answer) => t(answer.revoked ? "device.revoked_done" : "device.nothing_revoked", d.id);
        const done = await report(() => api.post(path`/api/v1/devices/${d.id}/revoke`), said);
        if (done) refresh(done);
      }
    } }, t("device.revoke")));
}

export async function render(main, { may }, notice = null) {
  main.replaceChildren(h("h1", {}, t("nav.devices")), h("p", { class: "loading" }, t("loading")));
  const devices = await api.get("/api/v1/devices");
  const note = h("p", { role: "status", class: "notice", testid: "devices-message", hidden: !notice }, notice);
  // Make a request and say how it went: ``done`` is the message (or makes it from the
  // answer). The message shown when it succeeded, or null.
  async function report(request, done) {
    let shown = null;
    try {
      const answer = await request();
      shown = typeof done === "function" ? done(answer) : done;
      note.className = "notice";
      note.textContent = shown;
    } catch (error) {
      note.className = "error";
      note.textContent = error.message;
    }
    note.hidden = false;
    return shown;
  }
  const columns = [
    { label: t("device.id"), value: (d) => h("code", {}, d.id) },
    { label: t("customer"), value: (d) => d.customer },
    { label: t("status"), value: status },
    { label: t("device.last_seen"), value: (d) => h("span", { title: fmtTime(d.last_seen) }, d.last_seen ? fmtAgo(d.last_seen) : t("never")) },
    { label: t("device.firmware"), value: (d) => d.firmware },
    { label: t("device.signal"), num: true, value: (d) => (d.signal === null ? "—" : `${d.signal} dBm`) },
    { label: t("device.certificate"), value: (d) => certificate(d.certificate) },
  ];
  if (may("change_fleet")) columns.push({ label: t("actions"), value: actions((message) => render(main, { may }, message), report) });
  const counts = devices.reduce((c, d) => ({ ...c, [d.revoked ? "revoked" : d.status]: (c[d.revoked ? "revoked" : d.status] || 0) + 1 }), {});
  main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, t("nav.devices")),
      h("span", { class: "muted", testid: "devices-summary" },
        ["online", "silent", "never_seen", "revoked"].map((k) => `${t(`device.${k}`)} ${counts[k] || 0}`).join(" · "))),
    h("div", { class: "page", testid: "page-devices" }, note,
      may("change_fleet") ? null : h("p", { class: "hint", testid: "devices-read-only" }, t("read_only")),
      h("section", { class: "panel" }, table("devices-table", columns, devices, (d) => d.id))));
}
