// Overview: the fleet at a glance, big numbers that link to the page behind them.
import { api } from "../api.js";
import { h, fmtNumber, fmtTime } from "../dom.js";
import { t } from "../i18n.js";

function tile(testid, label, value, href, tone) {
  return h("a", { class: `tile${tone ? ` tile-${tone}` : ""}`, href, testid },
    h("span", { class: "tile-value", testid: `${testid}-value` }, fmtNumber(value)),
    h("span", { class: "tile-label" }, label));
}

export async function render(main) {
  main.replaceChildren(h("h1", {}, t("nav.overview")), h("p", { class: "loading" }, t("loading")));
  const o = await api.get("/api/v1/overview");
  const { units, ingest, alerts } = o;
  main.replaceChildren(
    h("div", { class: "page-head" },
      h("h1", {}, t("nav.overview")),
      h("span", { class: "muted", testid: "overview-generated" }, t("overview.generated", fmtTime(o.generated_at)))),
    h("div", { class: "page", testid: "page-overview" },
      h("h2", {}, t("overview.units")),
      h("div", { class: "tiles" },
        tile("overview-total", t("overview.total"), units.total, "#/devices"),
        tile("overview-online", t("overview.online"), units.online, "#/devices", "good"),
        tile("overview-silent", t("overview.silent"), units.silent, "#/devices", units.silent ? "warn" : null),
        tile("overview-never-seen", t("overview.never_seen"), units.never_seen, "#/devices", units.never_seen ? "muted" : null),
        tile("overview-heard", t("overview.heard_last_hour"), units.heard_last_hour, "#/devices")),
      h("h2", {}, t("overview.ingest")),
      h("div", { class: "tiles" },
        tile("overview-messages", t("overview.messages"), ingest.messages_last_hour, "#/dead-letters"),
        tile("overview-dead-letters", t("overview.dead_letters"), ingest.dead_letters_last_day, "#/dead-letters",
          ingest.dead_letters_last_day ? "warn" : null),
        tile("overview-alerts", t("overview.alerts"), alerts.open, "#/alerts", alerts.open ? "bad" : "good")),
      h("h2", {}, t("overview.shortcuts")),
      h("ul", { class: "links" },
        h("li", {}, h("a", { href: "#/report", testid: "overview-link-report" }, t("nav.report"))),
        h("li", {}, h("a", { href: "#/quality", testid: "overview-link-quality" }, t("nav.quality"))),
        h("li", {}, h("a", { href: "#/customers", testid: "overview-link-customers" }, t("nav.customers"))),
        h("li", {}, h("a", { href: "#/security", testid: "overview-link-security" }, t("nav.security"))))));
}
