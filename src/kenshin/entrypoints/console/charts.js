// Charts drawn as SVG by the page: the data-quality heatmap and the load-curve bars.
// Flags keep one colour each from a colour-blind-safe palette (Okabe and Ito), and
// never by colour alone: letters in the heatmap, a hatch for estimated bars.
import { h, s } from "./dom.js";
import { t } from "./i18n.js";

export const FLAGS = ["A", "E", "Q", "N"];
export const SLOTS = 48;

/** "HH:MM" of slot index i (0..47) of a day. */
export function slotTime(i) {
  return `${String(Math.floor(i / 2)).padStart(2, "0")}:${i % 2 ? "30" : "00"}`;
}

export function legend(counts) {
  return h("ul", { class: "legend", testid: "flag-legend" },
    FLAGS.map((flag) => h("li", {},
      h("span", { class: `swatch flag-${flag}` }, flag),
      t(`flag.${flag}`),
      counts ? h("span", { class: "muted num", testid: `legend-count-${flag}` }, ` ${counts[flag] || 0}`) : null)));
}

/**
 * Registers (rows [{meter, direction, flags}]) x the day's slots (columns, local starts
 * ``starts``: 48, or 46/50 where the clocks change), each cell a flag; onPick(meter,
 * slot index) on click.
 */
export function heatmap(rows, starts, onPick) {
  const cell = 16;
  const left = 118;
  const top = 22;
  const count = starts.length;
  const at = (i) => starts[i].slice(11, 16);
  const width = left + count * cell + 4;
  const height = top + rows.length * cell + 4;
  const svg = s("svg", { class: "heatmap", viewBox: `0 0 ${width} ${height}`, width, height, role: "grid", testid: "heatmap" });
  for (let i = 0; i < count; i += 4) {
    svg.append(s("text", { x: left + i * cell, y: 14, class: "axis" }, at(i)));
  }
  rows.forEach((row, r) => {
    const y = top + r * cell;
    const name = row.direction === "rev" ? `${row.meter} ${t("direction.rev_short")}` : row.meter;
    svg.append(s("text", { x: left - 8, y: y + 12, class: "row-label", "text-anchor": "end" }, name));
    [...row.flags].forEach((flag, i) => {
      const x = left + i * cell;
      const g = s("g", {
        class: `cell flag-${flag}`, tabindex: 0, role: "button", testid: "heat-cell",
        "data-meter": row.meter, "data-direction": row.direction, "data-slot": at(i), "data-flag": flag,
        "aria-label": `${name} ${at(i)} ${t(`flag.${flag}`)}`,
        onclick: () => onPick(row.meter, i),
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onPick(row.meter, i); } },
      },
      s("title", {}, `${name} ${at(i)} — ${t(`flag.${flag}`)}`),
      s("rect", { x: x + 0.5, y: y + 0.5, width: cell - 1, height: cell - 1, rx: 2 }));
      if (flag !== "A") g.append(s("text", { x: x + cell / 2, y: y + 12, "text-anchor": "middle", class: "cell-letter" }, flag));
      svg.append(g);
    });
  });
  for (let i = 0; i <= count; i += 12) {
    svg.append(s("line", { x1: left + i * cell, x2: left + i * cell, y1: top - 4, y2: height - 4, class: "hour-rule" }));
  }
  return h("div", { class: "chart-scroll" }, svg);
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value);
}

/**
 * Bars of kWh a slot: slots [{start, kwh (string), flag}], days (1 or 7) laid side by
 * side with a rule and a label between days.
 */
export function bars(slots, { testid, dayLabels = [] } = {}) {
  const width = 960;
  const height = 260;
  const pad = { left: 52, right: 8, top: 26, bottom: 28 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const values = slots.map((slot) => (slot.kwh === null || slot.kwh === undefined ? null : Number(slot.kwh)));
  const max = niceMax(Math.max(0, ...values.filter((v) => v !== null)));
  const step = plotW / Math.max(1, slots.length);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const svg = s("svg", { class: "bars", viewBox: `0 0 ${width} ${height}`, role: "img", testid, "aria-label": t("meter.curve") },
    s("defs", {}, s("pattern", { id: `hatch-${testid}`, width: 5, height: 5, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      s("rect", { width: 5, height: 5, class: "hatch-bg" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 5, class: "hatch-line" }))));
  const digits = [0, 1, 2, 3].find((d) => Math.abs((max / 4) * 10 ** d - Math.round((max / 4) * 10 ** d)) < 1e-9) ?? 3;
  for (let k = 0; k <= 4; k += 1) {
    const v = (max * k) / 4;
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, v.toFixed(digits)));
  }
  const perDay = slots.length > SLOTS ? SLOTS : slots.length;
  slots.forEach((slot, i) => {
    const x = pad.left + i * step;
    const label = `${slot.start || slotTime(i % SLOTS)} ${slot.kwh ?? "—"} kWh ${t(`flag.${slot.flag}`)}`;
    if (values[i] === null) {
      svg.append(s("rect", { x: x + step * 0.15, y: pad.top + plotH - 2, width: Math.max(1, step * 0.7), height: 2, class: "bar flag-N", testid: "bar", "data-flag": slot.flag }, s("title", {}, label)));
      return;
    }
    const attrs = { x: x + step * 0.12, y: y(values[i]), width: Math.max(1, step * 0.76), height: Math.max(0.5, pad.top + plotH - y(values[i])), class: `bar flag-${slot.flag}`, testid: "bar", "data-flag": slot.flag };
    if (slot.flag === "E") attrs.fill = `url(#hatch-${testid})`;
    svg.append(s("rect", attrs, s("title", {}, label)));
  });
  for (let i = 0; i <= slots.length; i += perDay === SLOTS && slots.length > SLOTS ? SLOTS : 6) {
    const x = pad.left + i * step;
    const isDay = slots.length > SLOTS;
    svg.append(s("line", { x1: x, x2: x, y1: pad.top + plotH, y2: pad.top + plotH + (isDay ? 20 : 5), class: isDay ? "day-rule" : "tick" }));
    if (i < slots.length) {
      const text = isDay ? (dayLabels[i / SLOTS] || "") : slotTime(i);
      svg.append(s("text", { x: x + (isDay ? step * SLOTS / 2 : 0), y: height - 8, "text-anchor": "middle", class: "axis" }, text));
    }
  }
  svg.append(s("text", { x: pad.left - 6, y: 12, "text-anchor": "end", class: "axis unit" }, "kWh"));
  return svg;
}
