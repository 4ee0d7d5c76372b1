// The liquidation map as SVG: each level in the price range as a bar at its price (its USD
// value, stacked by protocol), the value liquidated outward from the price as one line per side
// (right axis), the span from each cascade trigger to its terminal price, and vertical markers.
// Drawing only: the page chooses the data and the range, and hovers with what draw() returns.

import * as fmt from "./format.js";
import { outward } from "./data.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#4e79a7", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e6a0c4",
  "#bab0ac"];
const MARGIN = { full: { left: 64, right: 64, top: 70, bottom: 40 },
  mini: { left: 1, right: 1, top: 3, bottom: 1 } };
const LABEL_ROWS = { price: 0, trigger: 1, terminal: 2, contagion: 3 };
let clips = 0; // clip-path ids, unique in the document

// Protocol colours: once given, a protocol keeps its colour across refreshes.
export class Palette {
  constructor() {
    this.assigned = new Map();
  }

  colour(protocol) {
    if (!this.assigned.has(protocol)) {
      this.assigned.set(protocol, PALETTE[this.assigned.size % PALETTE.length]);
    }
    return this.assigned.get(protocol);
  }
}

function node(parent, tag, attrs = {}, text = undefined) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  parent.appendChild(element);
  return element;
}

function linear(d0, d1, r0, r1) {
  const k = (r1 - r0) / (d1 - d0 || 1);
  const scale = (value) => r0 + (value - d0) * k;
  scale.invert = (pixel) => d0 + (pixel - r0) / k;
  return scale;
}

// About `count` round values (1, 2 or 5 × 10^n apart) from lo to hi, and their step.
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const first = Math.ceil(lo / step);
  const values = [];
  for (let i = first; i * step <= hi + step * 1e-9; i += 1) values.push(i * step);
  return { values, step };
}

// Value axis from 0 to a round top above `highest`.
function valueAxis(highest, count, bottom, top) {
  const { step } = ticks(0, highest || 1, count);
  const ceiling = Math.max(step, Math.ceil((highest || 1) / step) * step);
  return { scale: linear(0, ceiling, bottom, top), ...ticks(0, ceiling, Math.round(ceiling / step)) };
}

function drawAxes(svg, plot, x, xTicks, left, right) {
  const grid = node(svg, "g", { class: "grid" });
  for (const value of xTicks.values) {
    const tick = node(grid, "g", { class: "tick x", "data-value": value });
    node(tick, "line", { x1: x(value), x2: x(value), y1: plot.top, y2: plot.bottom });
    node(tick, "text", { x: x(value), y: plot.bottom + 16, "text-anchor": "middle" },
      fmt.tickPrice(value, xTicks.step));
  }
  for (const [axis, anchor, at] of [[left, "end", plot.left - 6], [right, "start", plot.right + 6]]) {
    for (const value of axis.values) {
      const tick = node(grid, "g", { class: `tick ${anchor === "end" ? "y" : "y2"}`, "data-value": value });
      if (anchor === "end") node(tick, "line", { x1: plot.left, x2: plot.right, y1: axis.scale(value), y2: axis.scale(value) });
      node(tick, "text", { x: at, y: axis.scale(value) + 4, "text-anchor": anchor }, fmt.usd(value));
    }
  }
  const middle = (plot.top + plot.bottom) / 2;
  node(svg, "text", { class: "axis-title", x: (plot.left + plot.right) / 2, y: plot.bottom + 34,
    "text-anchor": "middle" }, "price (USD)");
  node(svg, "text", { class: "axis-title", transform: `translate(14 ${middle}) rotate(-90)`,
    "text-anchor": "middle" }, "value of the level (USD)");
  node(svg, "text", { class: "axis-title", transform: `translate(${plot.right + 56} ${middle}) rotate(90)`,
    "text-anchor": "middle" }, "liquidated from the price outward (USD)");
}

function drawBar(parent, level, x, y, domain, palette) {
  const x0 = x(Math.max(level.price_low, domain[0]));
  const width = Math.max(1, x(Math.min(level.price_high, domain[1])) - x0);
  const bar = node(parent, "g", { class: `bar ${level.side}`, "data-side": level.side,
    "data-value": level.value_usd, "data-price-low": level.price_low,
    "data-price-high": level.price_high });
  const parts = Object.entries(level.protocols).sort(([a], [b]) => a.localeCompare(b));
  const served = parts.reduce((sum, [, usd]) => sum + usd, 0);
  const height = Math.max(1, y(0) - y(level.value_usd)); // a level is never invisible
  let top = y(0);
  for (const [protocol, usd] of parts.length ? parts : [["unattributed", 1]]) {
    const part = height * (served ? usd / served : 1);
    top -= part;
    node(bar, "rect", { x: x0, y: top, width, height: part, fill: palette.colour(protocol),
      "data-protocol": protocol });
  }
  return bar;
}

function cumulativePath(steps, x, y2, price, edge, beyond) {
  let path = `M${x(price)},${y2(0)}`;
  for (const step of steps) {
    if (beyond(step.price)) break;
    path += `H${x(step.price)}V${y2(step.total)}`;
  }
  return `${path}H${x(edge)}`;
}

function drawMarker(parent, mark, x, plot, mini) {
  const at = x(mark.price);
  const row = plot.top - 8 - (3 - LABEL_ROWS[mark.kind]) * 15;
  const group = node(parent, "g", { class: `marker ${mark.kind} ${mark.side}`.trim(),
    "data-kind": mark.kind, "data-side": mark.side, "data-price": mark.price });
  node(group, "line", { x1: at, x2: at, y1: mini ? plot.top : row + 4, y2: plot.bottom });
  if (mini) return;
  const anchor = mark.side === "down" ? "end" : mark.side === "up" ? "start" : "middle";
  const textAt = at + { end: -4, start: 4, middle: 0 }[anchor];
  const label = node(group, "text", { x: textAt, y: row, "text-anchor": anchor }, mark.label);
  const length = label.getComputedTextLength();
  const start = textAt - { end: length, start: 0, middle: length / 2 }[anchor];
  const inside = Math.max(0, 2 - start) - Math.max(0, start + length - (plot.width - 2));
  if (inside) label.setAttribute("x", textAt + inside); // near an edge the label stays in view
}

// Draw {price, levels, markers, domain: [lo, hi]} into `svg`; returns the price scale, the
// levels drawn with their bars and the value liquidated from the price to each.
export function draw(svg, map, { palette, mini = false }) {
  const width = svg.clientWidth || 800;
  const height = svg.clientHeight || 400;
  const margin = mini ? MARGIN.mini : MARGIN.full;
  const plot = { left: margin.left, right: width - margin.right, top: margin.top,
    bottom: height - margin.bottom, width };
  const [lo, hi] = map.domain;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const x = linear(lo, hi, plot.left, plot.right);
  const visible = map.levels.filter((level) => level.price_high > lo && level.price_low < hi);
  const sides = outward(map.levels, map.price);
  const inView = { long: (p) => p < lo, short: (p) => p > hi };
  const reached = (side) => sides[side].filter((step) => !inView[side](step.price)).at(-1)?.total ?? 0;
  const left = valueAxis(Math.max(0, ...visible.map((level) => level.value_usd)), mini ? 2 : 5,
    plot.bottom, plot.top);
  const right = valueAxis(Math.max(reached("long"), reached("short")), mini ? 2 : 5,
    plot.bottom, plot.top);

  const clip = `map-clip-${(clips += 1)}`;
  node(node(svg, "clipPath", { id: clip }), "rect", { x: plot.left, y: 0, width: plot.right - plot.left,
    height: plot.bottom });
  const price = Math.min(Math.max(x(map.price), plot.left), plot.right);
  node(svg, "rect", { class: "region long", x: plot.left, y: plot.top, width: price - plot.left,
    height: plot.bottom - plot.top });
  node(svg, "rect", { class: "region short", x: price, y: plot.top, width: plot.right - price,
    height: plot.bottom - plot.top });
  if (!mini) drawAxes(svg, plot, x, ticks(lo, hi, Math.max(2, Math.floor((plot.right - plot.left) / 110))), left, right);

  const layer = node(svg, "g", { "clip-path": `url(#${clip})` });
  for (const mark of map.markers.filter((m) => m.kind === "trigger")) {
    const terminal = map.markers.find((m) => m.kind === "terminal" && m.side === mark.side);
    if (!terminal) continue;
    const [a, b] = [x(mark.price), x(terminal.price)].sort((p, q) => p - q);
    node(layer, "rect", { class: `cascade-span ${mark.side}`, x: a, y: plot.top, width: b - a,
      height: plot.bottom - plot.top });
  }
  const bars = new Map();
  const barLayer = node(layer, "g", { class: "bars" });
  for (const level of visible) bars.set(level, drawBar(barLayer, level, x, left.scale, [lo, hi], palette));
  const totals = new Map();
  for (const side of ["long", "short"]) {
    for (const step of sides[side]) totals.set(step.level, step.total);
    node(layer, "path", { class: `cumulative ${side}`, "data-side": side,
      d: cumulativePath(sides[side], x, right.scale, map.price, side === "long" ? lo : hi, inView[side]) });
  }
  const marks = node(svg, "g", { class: "markers" });
  for (const mark of map.markers) {
    if (mark.price >= lo && mark.price <= hi) drawMarker(marks, mark, x, plot, mini);
  }
  return { x, plot, visible, bars, totals };
}
