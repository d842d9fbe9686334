// Operators' accounts and API tokens (admins), and the audit log of every change
// (operators and admins) with its CSV download.
import { api, path } from "../api.js";
import { h, fmtTime, table, badge, confirmDialog, errorBox, isoDay } from "../dom.js";
import { t } from "../i18n.js";

const ROLES = ["viewer", "operator", "admin"];

function roleSelect(testid) {
  return h("select", { name: "role", testid }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
}

/** A page of a list with a form to add to it; after any change the page is drawn again. */
async function listPage(main, { title, testid, route, key, columns, form, notice }) {
  main.replaceChildren(h("h1", {}, title), h("p", { class: "loading" }, t("loading")));
  const rows = await api.get(route);
  const message = h("div", { role: "status", testid: `${testid}-message`, hidden: !notice }, notice);
  message.className = "notice";
  main.replaceChildren(h("h1", {}, title), h("div", { class: "page", testid: `page-${testid}` }, message,
    h("section", { class: "panel" }, table(`${testid}-table`, columns, rows, key)),
    form ? h("section", { class: "panel" }, form) : null));
  return message;
}

function submitter(form, run) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const values = Object.fromEntries(new FormData(form));
      for (const input of form.querySelectorAll("input[type=number]")) values[input.name] = Number(input.value);
      await run(values);
    } catch (error) {
      form.querySelector(".form-error").replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function change(ask, request, redraw) {
  if (ask && !(await confirmDialog(ask))) return;
  try {
    await request();
    await redraw();
  } catch (error) {
    await redraw(error.message);
  }
}

export async function users(main, ctx, notice = null) {
  const redraw = (text) => users(main, ctx, text);
  const form = submitter(h("form", { class: "inline-form", testid: "user-add-form" },
    h("h2", {}, t("users.add")),
    h("label", {}, t("users.name"), h("input", { name: "name", required: true, autocomplete: "off", testid: "user-add-name" })),
    h("label", {}, t("users.role"), roleSelect("user-add-role")),
    h("label", {}, t("users.password"), h("input", { name: "password", type: "password", required: true, minlength: 12, autocomplete: "new-password", testid: "user-add-password" })),
    h("button", { type: "submit", testid: "user-add-submit" }, t("add")),
    h("div", { class: "form-error" })), async (body) => {
    await api.post("/api/v1/users", body);
    await redraw(t("users.added", body.name));
  });
  await listPage(main, {
    title: t("nav.users"), testid: "users", route: "/api/v1/users", key: (u) => u.name, form, notice,
    columns: [
      { label: t("users.name"), value: (u) => u.name },
      { label: t("users.role"), value: (u) => t(`role.${u.role}`) },
      { label: t("users.totp"), value: (u) => (u.role === "viewer" ? "—" : u.totp_enrolled ? badge(t("users.enrolled"), "good") : badge(t("users.not_enrolled"), "warn")) },
      { label: t("users.created"), value: (u) => fmtTime(u.created_at) },
      { label: t("status"), value: (u) => (u.locked_until * 1000 > Date.now() ? badge(t("users.locked", fmtTime(u.locked_until)), "bad", "user-locked") : badge(t("users.active"), "good")) },
      { label: t("actions"), value: (u) => h("div", { class: "row-actions" },
        u.locked_until * 1000 > Date.now() ? h("button", { type: "button", class: "small secondary", testid: "user-unlock",
          onclick: () => change(null, () => api.post(path`/api/v1/users/${u.name}/unlock`), () => redraw(t("users.unlocked", u.name))) }, t("users.unlock")) : null,
        h("button", { type: "button", class: "small secondary", testid: "user-reset-totp", disabled: u.role === "viewer",
          onclick: () => change(t("users.reset_ask", u.name), () => api.post(path`/api/v1/users/${u.name}/reset-totp`), () => redraw(t("users.reset_done", u.name))) }, t("users.reset_totp")),
        h("button", { type: "button", class: "small danger", testid: "user-delete", disabled: u.name === ctx.session.name,
          onclick: () => change(t("users.delete_ask", u.name), () => api.del(path`/api/v1/users/${u.name}`), () => redraw(t("users.deleted", u.name))) }, t("delete"))) },
    ],
  });
}

export async function tokens(main, ctx, notice = null) {
  const redraw = (text) => tokens(main, ctx, text);
  const form = submitter(h("form", { class: "inline-form", testid: "token-add-form" },
    h("h2", {}, t("tokens.add")),
    h("label", {}, t("tokens.name"), h("input", { name: "name", required: true, autocomplete: "off", testid: "token-add-name" })),
    h("label", {}, t("users.role"), roleSelect("token-add-role")),
    h("label", {}, t("tokens.days"), h("input", { name: "days", type: "number", min: 1, max: 365, value: 90, required: true, testid: "token-add-days" })),
    h("button", { type: "submit", testid: "token-add-submit" }, t("add")),
    h("div", { class: "form-error" })), async (body) => {
    const answer = await api.post("/api/v1/tokens", body);
    const message = await listPage(main, { ...(await tokenPage(redraw, null)), form });
    form.reset();
    message.replaceChildren(t("tokens.once"), " ", h("code", { class: "secret", testid: "token-secret" }, answer.token));
    message.hidden = false;
  });
  const page = await tokenPage(redraw, notice);
  await listPage(main, { ...page, form });
}

async function tokenPage(redraw, notice) {
  return {
    title: t("nav.tokens"), testid: "tokens", route: "/api/v1/tokens", key: (k) => k.id, notice,
    columns: [
      { label: t("tokens.name"), value: (k) => k.name },
      { label: t("users.role"), value: (k) => t(`role.${k.role}`) },
      { label: t("tokens.created_by"), value: (k) => k.created_by },
      { label: t("users.created"), value: (k) => fmtTime(k.created_at) },
      { label: t("tokens.expires"), value: (k) => (k.expires_at * 1000 > Date.now() ? fmtTime(k.expires_at) : badge(t("tokens.expired"), "muted")) },
      { label: t("actions"), value: (k) => h("button", { type: "button", class: "small danger", testid: "token-revoke",
        onclick: () => change(t("tokens.revoke_ask", k.name), () => api.del(path`/api/v1/tokens/${k.id}`), () => redraw(t("tokens.revoked", k.name))) }, t("tokens.revoke")) },
    ],
  };
}

/** A JSON text of the audit log (empty: none) as an object. */
function parsed(text) {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : { value };
  } catch {
    return { value: text };
  }
}

function shown(value) {
  if (value === undefined || value === null) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function changeSummary(entry) {
  const before = parsed(entry.before);
  const after = parsed(entry.after);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return keys.map((k) => `${k}: ${shown(before[k])} → ${shown(after[k])}`).join("; ") || "—";
}

const AUDIT_PAGE = 1000; // what GET /api/v1/audit answers at most

export async function audit(main, { query, navigate }) {
  const since = query.get("since") || isoDay(-7);
  const form = h("form", { class: "toolbar", testid: "audit-form" },
    h("label", {}, t("audit.since"), h("input", { type: "date", name: "since", value: since, testid: "audit-since" })),
    h("button", { type: "submit", testid: "audit-show" }, t("show")),
    h("a", { class: "button secondary", href: `/api/v1/audit.csv?since=${encodeURIComponent(since)}`, download: "audit.csv", testid: "audit-csv" }, t("audit.csv")));
  form.addEventListener("submit", (event) => { event.preventDefault(); navigate(`#/audit?since=${form.elements.since.value}`); });
  // The newest first: the API lists them oldest first, at most PAGE at a time; "older"
  // asks for the page before the oldest shown.
  const before = query.get("before");
  const asked = `/api/v1/audit?since=${encodeURIComponent(since)}${before ? `&before=${encodeURIComponent(before)}` : ""}`;
  const rows = (await api.get(asked)).reverse();
  const older = rows.length >= AUDIT_PAGE
    ? h("a", { class: "button secondary", href: `#/audit?since=${encodeURIComponent(since)}&before=${rows[rows.length - 1].seq}`, testid: "audit-older" }, t("audit.older"))
    : null;
  main.replaceChildren(h("h1", {}, t("nav.audit")), h("div", { class: "page", testid: "page-audit" }, form,
    h("section", { class: "panel" }, table("audit-table", [
      { label: t("time"), value: (e) => fmtTime(e.at) },
      { label: t("audit.who"), value: (e) => e.who },
      { label: t("users.role"), value: (e) => e.role },
      { label: t("audit.action"), value: (e) => h("code", {}, e.action) },
      { label: t("audit.object"), value: (e) => [e.kind, e.key].filter(Boolean).join(" ") },
      { label: t("audit.change"), value: (e) => h("span", { class: "change" }, changeSummary(e)) },
      { label: t("audit.source"), value: (e) => e.source },
    ], rows, (e) => e.seq)), older));
}
