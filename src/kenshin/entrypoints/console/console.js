// The console's shell: the session, the navigation, the language and the hash router
// (#/overview, #/meters/M-1?date=2026-12-04 ...). Each page is a module of pages/
// exporting render(main, ctx).
import { api, setCsrf, whenUnauthorised } from "./api.js";
import { h } from "./dom.js";
import { t, lang, setLang, LANGUAGES } from "./i18n.js";
import * as signin from "./pages/signin.js";
import * as overview from "./pages/overview.js";
import * as quality from "./pages/quality.js";
import * as report from "./pages/report.js";
import * as meter from "./pages/meter.js";
import * as customers from "./pages/customers.js";
import * as alerts from "./pages/alerts.js";
import * as records from "./pages/records.js";
import * as devices from "./pages/devices.js";
import * as admin from "./pages/admin.js";

// Which role may open a page: the menu shows only those the signed-in role may.
const READ = ["viewer", "operator", "admin"];
const AUDIT = ["operator", "admin"];
const ADMIN = ["admin"];

const PAGES = [
  { route: "overview", page: overview.render, roles: READ },
  { route: "report", page: report.render, roles: READ },
  { route: "quality", page: quality.render, roles: READ },
  { route: "meters", page: meter.render, roles: READ, menu: false },
  { route: "customers", page: customers.render, roles: READ },
  { route: "devices", page: devices.render, roles: READ },
  { route: "alerts", page: alerts.render, roles: READ },
  { route: "dead-letters", page: records.deadLetters, roles: READ },
  { route: "security", page: records.securityEvents, roles: AUDIT },
  { route: "audit", page: admin.audit, roles: AUDIT },
  { route: "users", page: admin.users, roles: ADMIN },
  { route: "tokens", page: admin.tokens, roles: ADMIN },
];

const state = { session: null };

/** The route's parts: "#/meters/M-1?date=x" -> {name: "meters", args: ["M-1"], query}. */
function parseHash() {
  const [route, search] = (location.hash.replace(/^#\/?/, "") || "overview").split("?");
  const [name, ...args] = route.split("/").map(decodeURIComponent);
  return { name, args, query: new URLSearchParams(search || "") };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function loadSession() {
  try {
    state.session = await api.get("/api/v1/session");
    setCsrf(state.session.csrf);
  } catch (error) {
    if (error.status !== 401) throw error;
    state.session = null;
  }
}

async function signOut() {
  try {
    await api.del("/api/v1/session");
  } finally {
    state.session = null;
    setCsrf("");
    navigate("#/signin");
  }
}

function languageToggle() {
  return h("div", { class: "lang", role: "group", "aria-label": t("language") },
    LANGUAGES.map((code) => h("button", {
      type: "button", testid: `lang-${code}`, "aria-pressed": String(code === lang()),
      class: code === lang() ? "on" : null,
      onclick: () => { setLang(code); render(); },
    }, t(`lang.${code}`))));
}

function header() {
  const session = state.session;
  const who = session && !session.enrolling
    ? h("div", { class: "who" },
      h("span", { testid: "session-name" }, session.name),
      h("span", { class: "role", testid: "session-role" }, t(`role.${session.role}`)),
      h("button", { type: "button", class: "link", testid: "sign-out", onclick: signOut }, t("signout")))
    : null;
  return h("header", { class: "top" },
    h("a", { class: "brand", href: "#/overview", testid: "brand" }, h("span", { class: "mark" }, "検針"), " kenshin"),
    h("div", { class: "top-right" }, who, languageToggle()));
}

function menu(current) {
  const role = state.session.role;
  const links = PAGES.filter((p) => p.menu !== false && p.roles.includes(role)).map((p) =>
    h("a", {
      href: `#/${p.route}`, testid: `nav-${p.route}`,
      class: p.route === current || (current === "meters" && p.route === "customers") ? "current" : null,
    }, t(`nav.${p.route}`)));
  return h("nav", { class: "side", testid: "nav", "aria-label": t("menu") }, links);
}

async function render() {
  document.documentElement.lang = lang();
  document.title = `kenshin — ${t("title")}`;
  const root = document.getElementById("app");
  const route = parseHash();
  const signedIn = state.session && !state.session.enrolling;
  const main = h("main", { id: "main", tabindex: "-1" });
  if (!signedIn || route.name === "signin") {
    root.replaceChildren(header(), h("div", { class: "signin-wrap" }, main));
    return signin.render(main, { session: state.session, done: afterSignIn, navigate });
  }
  const page = PAGES.find((p) => p.route === route.name && p.roles.includes(state.session.role)) || PAGES[0];
  main.dataset.route = page.route;
  root.replaceChildren(header(), h("div", { class: "body" }, menu(page.route), main));
  try {
    await page.page(main, { ...route, session: state.session, navigate, may });
  } catch (error) {
    main.replaceChildren(h("p", { class: "error", role: "alert", testid: "error" }, error.message));
  }
  main.dataset.ready = "true"; // the page has its data (tests wait for main[data-ready])
}

/** Whether the signed-in role may do an action of the role matrix. */
function may(action) {
  const role = state.session && state.session.role;
  if (action === "change_fleet") return role === "operator" || role === "admin";
  if (action === "manage_users") return role === "admin";
  return Boolean(role);
}

async function afterSignIn() {
  await loadSession();
  navigate(location.hash && !location.hash.startsWith("#/signin") ? location.hash : "#/overview");
}

whenUnauthorised(() => {
  state.session = null;
  render();
});
window.addEventListener("hashchange", render);
loadSession().then(render, (error) => {
  document.getElementById("app").replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
});
