// Every asset the monitor summarises, each with a small map of its levels and triggers,
// refreshed every few seconds. Cards are kept and updated in place, in a stable order.

import * as fmt from "./format.js";
import { draw, Palette } from "./chart.js";
import { ARROWS, autoDomain, getJSON, markers } from "./data.js";

const REFRESH_MS = 5000;
const root = document.querySelector("main");
const part = (role) => root.querySelector(`[data-role="${role}"]`);
const [cards, statusLine, legend, labels] = ["cards", "status", "legend", "labels"].map(part);
const palette = new Palette();

function nearestTrigger(summary) {
  const found = ["down", "up"].filter((side) => Number.isFinite(summary[side]?.distance))
    .map((side) => `${ARROWS[side]} ${fmt.distance((side === "down" ? -1 : 1) * summary[side].distance)}`);
  return found.length ? `triggers ${found.join(" ")}` : "no cascade trigger";
}

function card(asset) {
  let found = cards.querySelector(`[data-asset="${CSS.escape(asset)}"]`);
  if (found) return found;
  found = document.createElement("a");
  found.className = "card";
  found.dataset.asset = asset;
  found.href = encodeURIComponent(asset);
  found.innerHTML = '<h2></h2><p class="card-price"></p><svg class="mini" role="img"></svg><p class="card-facts"></p>';
  found.querySelector("h2").textContent = asset;
  found.querySelector("svg").setAttribute("aria-label", `${asset} liquidation levels`);
  cards.append(found);
  return found;
}

function fill(summary, levels) {
  const element = card(summary.asset);
  const within = summary.liquidatable_within_usd;
  element.querySelector(".card-price").textContent = fmt.price(summary.price);
  element.querySelector(".card-facts").textContent =
    `within 5 %: longs ${fmt.usd(within?.long?.["0.05"])}, shorts ${fmt.usd(within?.short?.["0.05"])} · ${nearestTrigger(summary)}`;
  const svg = element.querySelector("svg");
  if (!levels?.levels?.length) {
    svg.replaceChildren();
    return;
  }
  const marks = markers(levels.price, summary, summary.asset).filter((mark) => mark.kind !== "contagion");
  draw(svg, { price: levels.price, levels: levels.levels, markers: marks,
    domain: autoDomain(levels.price, marks) }, { palette, mini: true });
}

function renderLegend() {
  legend.replaceChildren(...[...palette.assigned].map(([name, colour]) => {
    const item = document.createElement("span");
    item.className = "key-item protocol";
    item.appendChild(document.createElement("i")).style.background = colour;
    item.append(name);
    return item;
  }));
}

async function refresh() {
  const index = await getJSON("clusters/");
  if (index.status !== 200) {
    statusLine.textContent = index.status ? `error ${index.status}; retrying` : "the worker cannot be reached; retrying";
    statusLine.classList.add("problem");
    return;
  }
  const assets = index.body.assets.filter((summary) => Number.isFinite(summary.price));
  const levels = await Promise.all(assets.map((summary) =>
    getJSON(`clusters/${encodeURIComponent(summary.asset)}/`)));
  for (const element of cards.querySelectorAll(".card")) {
    if (!assets.some((summary) => summary.asset === element.dataset.asset)) element.remove();
  }
  assets.forEach((summary, i) => fill(summary, levels[i].status === 200 ? levels[i].body : null));
  statusLine.classList.remove("problem");
  statusLine.textContent = assets.length
    ? `${assets.length} assets · refreshed ${fmt.clock(Date.now() / 1000)}`
    : "No assets yet: no position with a liquidation price has reached the monitor.";
  labels.textContent = Object.entries(index.body.labels ?? {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  renderLegend();
}

async function poll() {
  if (!document.hidden) await refresh();
  setTimeout(poll, REFRESH_MS);
}

poll();
