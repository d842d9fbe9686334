// A meter: its register and time in service, the load curve of a day and of the week to
// that day (kWh a slot, estimated slots hatched) as the customer's files show them, the
// reverse register's where the meter has one, and the day's slots as a table.
import { api, path } from "../api.js";
import { h, isoDay, fmtTime, fmtNumber, table, badge, errorBox } from "../dom.js";
import { bars, legend } from "../charts.js";
import { t } from "../i18n.js";

/** The exact sum of decimal strings ("0.125" + "1.5" = "1.625"), nulls left out. */
export function exactSum(values) {
  const present = values.filter((v) => v !== null && v !== undefined && v !== "").map(String);
  const places = Math.max(0, ...present.map((v) => (v.split(".")[1] || "").length));
  const scaled = present.map((v) => {
    const [whole, frac = ""] = v.replace("-", "").split(".");
    const n = BigInt(whole + frac.padEnd(places, "0"));
    return v.startsWith("-") ? -n : n;
  });
  const total = scaled.reduce((a, b) => a + b, 0n);
  const digits = (total < 0n ? -total : total).toString().padStart(places + 1, "0");
  const text = places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
  return total < 0n ? `-${text}` : text;
}

/** The day "YYYY-MM-DD" n days from day. */
function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function toolbar(id, date, navigate) {
  const form = h("form", { class: "toolbar", testid: "meter-form" },
    h("label", {}, t("meter"), h("input", { name: "meter", value: id || "", required: true, testid: "meter-id" })),
    h("label", {}, t("date"), h("input", { type: "date", name: "date", value: date, required: true, testid: "meter-date" })),
    h("button", { type: "submit", testid: "meter-show" }, t("show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(`#/meters/${encodeURIComponent(form.elements.meter.value.trim())}?date=${form.elements.date.value}`);
  });
  return form;
}

function facts(meter) {
  const rows = [
    [t("customer"), meter.customer ? h("a", { href: `#/customers/${encodeURIComponent(meter.customer)}` }, meter.customer) : "—"],
    [t("meter.device"), h("code", {}, meter.device)],
    [t("meter.register"), `${meter.unit} × ${meter.coefficient}, ${t("meter.digits", meter.digits)}`],
    [t("meter.max_demand"), `${fmtNumber(meter.max_demand_kw, 1)} kW${meter.max_demand_of === "default" ? ` (${t("meter.default")})` : ""}`],
    [t("customer.zone"), meter.timezone || "—"],
  ];
  return h("dl", { class: "facts", testid: "meter-facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function spans(meter) {
  return table("meter-spans", [
    { label: t("meter.from"), value: (r) => (r.installed ? fmtTime(r.installed) : t("meter.unknown")) },
    { label: t("meter.until"), value: (r) => (r.removed ? fmtTime(r.removed) : badge(t("meter.in_service"), "good")) },
    { label: t("meter.removed_by"), value: (r) => (r.removed ? t(r.removal_by_operator ? "meter.by_operator" : "meter.by_unit") : "—") },
  ], meter.service);
}

function dayTable(day) {
  const reverse = day.reverse || [];
  const columns = [
    { label: t("time"), value: (r) => r.start.slice(11, 16) },
    { label: "kWh", num: true, value: (r) => r.kwh ?? "—" },
    { label: t("flag"), value: (r) => h("span", { class: `swatch flag-${r.flag}` }, r.flag) },
  ];
  if (reverse.length) {
    columns.push(
      { label: t("meter.reverse_kwh"), num: true, value: (_r, i) => reverse[i].kwh ?? "—" },
      { label: t("flag"), value: (_r, i) => h("span", { class: `swatch flag-${reverse[i].flag}` }, reverse[i].flag) });
  }
  return h("details", { class: "slots" },
    h("summary", { testid: "meter-slots-toggle" }, t("meter.slots")),
    table("meter-slots", columns, day.slots));
}

function revision(day) {
  return day.revision === null ? t("meter.no_file") : t("meter.revision", day.revision);
}

function dayPanel(day, date) {
  const head = h("div", { class: "panel-head" },
    h("h2", {}, t("meter.day", date)),
    h("span", { class: "muted" }, revision(day)),
    h("span", { class: "total", testid: "meter-day-total" }, t("meter.total", exactSum(day.slots.map((x) => x.kwh)))));
  if (!day.slots.length) return h("section", { class: "panel" }, head, h("p", { class: "muted", testid: "meter-out-of-service" }, t("meter.out_all_day")));
  const reverse = day.reverse && day.reverse.length
    ? [h("h3", {}, t("meter.reverse", exactSum(day.reverse.map((x) => x.kwh)))), bars(day.reverse, { testid: "meter-reverse-chart" })]
    : [];
  return h("section", { class: "panel" }, head, bars(day.slots, { testid: "meter-day-chart" }), ...reverse, legend(), dayTable(day));
}

export async function render(main, { args, query, navigate }) {
  const id = args[0];
  const date = query.get("date") || isoDay(-1);
  const page = h("div", { class: "page", testid: "page-meter" }, toolbar(id, date, navigate));
  main.replaceChildren(h("h1", {}, id ? `${t("meter")} ${id}` : t("meter")), page);
  if (!id) return;
  const loading = h("p", { class: "loading" }, t("loading"));
  page.append(loading);
  let meter, day, week;
  try {
    [meter, day, week] = await Promise.all([
      api.get(path`/api/v1/meters/${id}`),
      api.get(path`/api/v1/meters/${id}/days/${date}`),
      api.get(path`/api/v1/meters/${id}/week/${addDays(date, -6)}`), // the week to the day
    ]);
  } catch (error) {
    return loading.replaceWith(errorBox(error));
  }
  loading.remove();
  const weekSlots = week.days.flatMap((d) => (d.slots.length ? d.slots : Array.from({ length: 48 }, () => ({ start: `${d.date}T`, kwh: null, flag: "N" }))));
  const labels = week.days.map((d) => d.date.slice(5));
  page.append(
    h("section", { class: "panel" }, h("h2", {}, t("meter.about")), facts(meter), spans(meter)),
    dayPanel(day, date),
    h("section", { class: "panel" },
      h("div", { class: "panel-head" },
        h("h2", {}, t("meter.week", week.days[0].date, week.days[6].date)),
        h("span", { class: "total", testid: "meter-week-total" }, t("meter.total", exactSum(week.days.flatMap((d) => d.slots.map((x) => x.kwh)))))),
      bars(weekSlots, { testid: "meter-week-chart", dayLabels: labels })));
}
