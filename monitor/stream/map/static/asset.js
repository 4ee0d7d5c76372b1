// One asset's liquidation map: polls its levels and cascade projection (at most once a second,
// only while the page is visible), redraws in place when either changed, and handles hover and
// zoom. The price range stays put while the price moves inside it, so the price line moves.

import * as fmt from "./format.js";
import { draw, Palette } from "./chart.js";
import {
  around, autoDomain, crossed, describeCascade, getJSON, levelsDomain, markers,
} from "./data.js";

const POLL_MS = 1000;
const DRAG_MIN_PX = 6;
const page = document.querySelector("[data-asset]");
const asset = page.dataset.asset;
const part = (role) => page.querySelector(`[data-role="${role}"]`);
const [svg, figure, tooltip, empty, selection, legend, labels, statusLine] =
  ["chart", "figure", "tooltip", "empty", "selection", "legend", "labels", "status"].map(part);
const palette = new Palette();

let latest = null; // {levels, cascade}: the answers drawn last
let shown = ""; // what they were, to skip refreshes that change nothing
let zoom = { mode: "auto", button: "auto" }; // auto | all | range (with its domain)
let domain = null;
let layout = null; // what the last draw returned
let dragFrom = null;

function setStatus(text, problem = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("problem", problem);
}

function fact(name, text) {
  page.querySelector(`[data-fact="${name}"]`).textContent = text;
}

function within(usdByMove) {
  return usdByMove ? ["0.01", "0.05", "0.1"].map((move) => fmt.usd(usdByMove[move])).join(" / ") : "–";
}

function showEmpty(text) {
  empty.textContent = text;
  empty.hidden = false;
  svg.replaceChildren();
  layout = null;
}

function renderLegend(marks) {
  const kinds = new Set(marks.map((mark) => mark.kind));
  const names = [...palette.assigned.keys()];
  const drawn = [...names, ...kinds].join();
  if (legend.dataset.drawn === drawn) return;
  legend.dataset.drawn = drawn;
  legend.replaceChildren();
  const key = (cls, text, colour) => {
    const item = document.createElement("span");
    item.className = `key-item ${cls}`;
    const swatch = item.appendChild(document.createElement("i"));
    if (colour) swatch.style.background = colour;
    item.append(text);
    legend.append(item);
  };
  for (const name of names) key("protocol", name, palette.colour(name));
  key("region long", "longs: liquidated as the price falls");
  key("region short", "shorts: liquidated as the price rises");
  key("line long", "longs liquidated from the price down (right axis)");
  key("line short", "shorts liquidated from the price up (right axis)");
  const meaning = { trigger: "cascade trigger", terminal: "projected terminal price",
    contagion: "contagion terminal price" };
  for (const [kind, text] of Object.entries(meaning)) if (kinds.has(kind)) key(`mark ${kind}`, text);
}

function renderLabels(levels, cascade) {
  const served = { ...levels.labels, ...cascade?.labels };
  const text = Object.entries(served).map(([name, label]) => `${name}: ${label}`);
  text.push(`levels bucketed ${(levels.grid_step * 100).toFixed(2)} % wide`);
  labels.textContent = text.join(" · ");
}

function render() {
  const { levels, cascade } = latest;
  const marks = markers(levels.price, cascade, asset);
  fact("price", fmt.price(levels.price));
  page.querySelector('[data-label="price"]').textContent = levels.labels?.price ?? "";
  fact("long", within(levels.liquidatable_within_usd?.long));
  fact("short", within(levels.liquidatable_within_usd?.short));
  fact("down", describeCascade(cascade, "down", asset));
  fact("up", describeCascade(cascade, "up", asset));
  const now = crossed(levels.levels, levels.price);
  fact("crossed", `longs ${fmt.usd(now.long)} · shorts ${fmt.usd(now.short)}`);
  renderLabels(levels, cascade);
  if (!levels.levels.length) {
    showEmpty(`No levels yet: no ${asset} position with a liquidation price has reached the monitor.`);
    return;
  }
  if (zoom.mode === "all") domain = levelsDomain(levels.levels, levels.price);
  else if (zoom.mode === "range") domain = zoom.domain;
  else if (!domain || levels.price <= domain[0] || levels.price >= domain[1]) domain = autoDomain(levels.price, marks);
  layout = draw(svg, { price: levels.price, levels: levels.levels, markers: marks, domain }, { palette });
  empty.hidden = layout.visible.length > 0;
  empty.textContent = "No levels in this price range: zoom out.";
  svg.dataset.updatedAt = levels.updated_at;
  renderLegend(marks);
}

function problem(answer) {
  if (answer.status === 404) {
    latest = null;
    shown = "";
    setStatus("live · waiting for levels");
    showEmpty(`No levels yet: no ${asset} position with a liquidation price has reached the monitor.`);
  } else if (answer.status === 503) {
    setStatus(`the worker that owns ${asset} is moving (rebalancing); retrying`, true);
  } else if (answer.status === 0) {
    setStatus("the worker cannot be reached; retrying", true);
  } else {
    setStatus(`error ${answer.status}: ${answer.body?.error ?? "unexpected answer"}`, true);
  }
}

async function refresh() {
  const key = encodeURIComponent(asset);
  const [levels, cascade] = await Promise.all([getJSON(`clusters/${key}/`), getJSON(`cascades/${key}/`)]);
  if (levels.status !== 200) return problem(levels);
  const projection = cascade.status === 200 ? cascade.body : null;
  setStatus(`live · levels as of ${fmt.clock(levels.body.updated_at)} · checked ${fmt.clock(Date.now() / 1000)}`);
  const now = JSON.stringify([levels.body.updated_at, levels.body.price, projection?.computed_at]);
  if (now === shown) return;
  shown = now;
  latest = { levels: levels.body, cascade: projection };
  render();
}

async function poll() {
  if (!document.hidden) await refresh();
  setTimeout(poll, POLL_MS);
}

function pointerX(event) {
  return event.clientX - svg.getBoundingClientRect().left;
}

function hideTooltip() {
  tooltip.hidden = true;
  svg.querySelector(".bar.hover")?.classList.remove("hover");
}

function showTooltip(level, event) {
  const price = latest.levels.price;
  const edge = level.side === "long" ? level.price_high : level.price_low;
  const rows = [
    [`${level.side} level`, `${fmt.price(level.price_low)} – ${fmt.price(level.price_high)}`],
    ["from the price", fmt.distance(edge / price - 1)],
    ["value", fmt.usd(level.value_usd)],
    ["debt repaid", fmt.usd(level.debt_usd)],
    ["quantity", `${level.quantity.toPrecision(4)} ${asset}`],
    ["positions", String(level.positions)],
    ["liquidated from the price to here", fmt.usd(layout.totals.get(level))],
    ...Object.entries(level.protocols).sort(([, a], [, b]) => b - a)
      .map(([name, usd]) => [name, fmt.usd(usd)]),
  ];
  const table = document.createElement("table");
  for (const [name, value] of rows) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = value;
  }
  tooltip.replaceChildren(table);
  tooltip.hidden = false;
  const box = figure.getBoundingClientRect();
  const left = Math.min(event.clientX - box.left + 14, box.width - tooltip.offsetWidth - 4);
  tooltip.style.left = `${Math.max(4, left)}px`;
  tooltip.style.top = `${Math.max(4, event.clientY - box.top - tooltip.offsetHeight - 10)}px`;
  svg.querySelector(".bar.hover")?.classList.remove("hover");
  layout.bars.get(level).classList.add("hover");
}

function hover(event) {
  const at = pointerX(event);
  const near = layout.visible.filter((level) =>
    layout.x(level.price_low) - 3 <= at && at <= layout.x(level.price_high) + 3);
  if (!near.length) return hideTooltip();
  showTooltip(near.reduce((a, b) => (b.value_usd > a.value_usd ? b : a)), event);
}

function setZoom(next) {
  zoom = next;
  domain = null;
  for (const button of page.querySelectorAll("[data-zoom]")) {
    button.setAttribute("aria-pressed", String(button.dataset.zoom === next.button));
  }
  if (latest) render();
}

svg.addEventListener("pointerdown", (event) => {
  if (!layout) return;
  dragFrom = pointerX(event);
  svg.setPointerCapture(event.pointerId);
});
svg.addEventListener("pointermove", (event) => {
  if (!layout) return;
  if (dragFrom === null) return hover(event);
  hideTooltip();
  const [a, b] = [dragFrom, pointerX(event)].sort((p, q) => p - q);
  selection.hidden = b - a < DRAG_MIN_PX;
  selection.style.left = `${svg.offsetLeft + a}px`;
  selection.style.width = `${b - a}px`;
});
svg.addEventListener("pointerup", (event) => {
  if (dragFrom === null) return;
  const [a, b] = [dragFrom, pointerX(event)].sort((p, q) => p - q);
  dragFrom = null;
  selection.hidden = true;
  if (b - a >= DRAG_MIN_PX) setZoom({ mode: "range", domain: [layout.x.invert(a), layout.x.invert(b)] });
});
svg.addEventListener("pointerleave", hideTooltip);
svg.addEventListener("dblclick", () => setZoom({ mode: "auto", button: "auto" }));
for (const button of page.querySelectorAll("[data-zoom]")) {
  button.addEventListener("click", () => {
    const choice = button.dataset.zoom;
    if (choice === "auto" || choice === "all") return setZoom({ mode: choice, button: choice });
    if (!latest) return;
    setZoom({ mode: "range", button: choice, domain: around(latest.levels.price, Number(choice)) });
  });
}
new ResizeObserver(() => latest && render()).observe(svg);
document.addEventListener("visibilitychange", () => !document.hidden && refresh());
poll();
