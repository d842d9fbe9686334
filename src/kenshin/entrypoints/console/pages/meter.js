// A meter: its service spans, the load curve of a day and of the week to that day
// (kWh a slot, estimated slots hatched), and the day's slots as a table.
import { api, listOf, path } from "../api.js";
import { h, isoDay, fmtTime, table, badge, errorBox, pick } from "../dom.js";
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

function spans(meter) {
  const rows = listOf(meter, "spans", "service_spans", "services");
  return table("meter-spans", [
    { label: t("meter.device"), value: (r) => pick(r, "device", "unit") },
    { label: t("customer"), value: (r) => pick(r, "customer") },
    { label: t("meter.from"), value: (r) => fmtTime(pick(r, "from", "start", "since")) },
    { label: t("meter.until"), value: (r) => (pick(r, "until", "end") ? fmtTime(pick(r, "until", "end")) : badge(t("meter.in_service"), "good")) },
  ], rows);
}

function dayTable(slots) {
  return h("details", { class: "slots" },
    h("summary", { testid: "meter-slots-toggle" }, t("meter.slots")),
    table("meter-slots", [
      { label: t("time"), value: (r) => (r.start || "").slice(11, 16) || r.start },
      { label: "kWh", num: true, value: (r) => r.kwh ?? "—" },
      { label: t("flag"), value: (r) => h("span", { class: `swatch flag-${r.flag}` }, r.flag) },
    ], slots));
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
      api.get(path`/api/v1/meters/${id}/week/${date}`),
    ]);
  } catch (error) {
    return loading.replaceWith(errorBox(error));
  }
  loading.remove();
  const slots = listOf(day, "slots");
  const days = listOf(week, "days");
  const weekSlots = days.flatMap((d) => listOf(d, "slots"));
  const labels = days.map((d, i) => (d.date || (listOf(d, "slots")[0] || {}).start || `${i + 1}`).slice(5, 10));
  page.append(
    h("section", { class: "panel" },
      h("div", { class: "panel-head" },
        h("h2", {}, t("meter.day", date)),
        h("span", { class: "total", testid: "meter-day-total" }, t("meter.total", exactSum(slots.map((x) => x.kwh))))),
      bars(slots, { testid: "meter-day-chart" }), legend(), dayTable(slots)),
    h("section", { class: "panel" },
      h("h2", {}, t("meter.week", labels[0] || "", labels[labels.length - 1] || "")),
      bars(weekSlots, { testid: "meter-week-chart", dayLabels: labels })),
    h("section", { class: "panel" }, h("h2", {}, t("meter.spans")), spans(meter)));
}
