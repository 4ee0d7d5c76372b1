// What the map pages read from the worker's JSON views and derive from them: the markers (the
// price, each side's cascade trigger, terminal and contagion terminal prices), the value
// liquidated outward from the price, and the price range shown first.

import * as fmt from "./format.js";

// The worker's root however the pages are mounted (/map/static/ is two levels below it).
const ROOT = new URL("../../", import.meta.url);
const CASCADE_FIELDS = new Set(["trigger_price", "amplification", "terminal_price",
  "liquidated_usd", "distance", "contagion"]);
export const ARROWS = { down: "↓", up: "↑" };

// {status, body} of a JSON view; status 0 when the worker could not be reached.
export async function getJSON(path) {
  try {
    const response = await fetch(new URL(path, ROOT), { cache: "no-store" });
    return { status: response.status, body: await response.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

// The contagion terminal price of the asset where the projection carries one (`down.contagion`
// or `contagion.down`, as `terminal_price` or `terminal_prices[asset]`); null otherwise.
function contagionTerminal(cascade, side, asset) {
  for (const found of [cascade?.[side]?.contagion, cascade?.contagion?.[side]]) {
    const value = found?.terminal_price ?? found?.terminal_prices?.[asset];
    if (Number.isFinite(value)) return value;
  }
  return null;
}

// Vertical markers: {kind, side, price, label}.
export function markers(price, cascade, asset) {
  const found = [{ kind: "price", side: "", price, label: `price ${fmt.price(price)}` }];
  for (const side of ["down", "up"]) {
    const projected = cascade?.[side];
    if (!Number.isFinite(projected?.trigger_price)) continue;
    const arrow = ARROWS[side];
    const mark = (kind, at, name) => {
      if (Number.isFinite(at)) found.push({ kind, side, price: at, label: `${arrow} ${name} ${fmt.price(at)}` });
    };
    mark("trigger", projected.trigger_price, "trigger");
    mark("terminal", projected.terminal_price, "terminal");
    mark("contagion", contagionTerminal(cascade, side, asset), "contagion terminal");
  }
  return found;
}

// One side of the projection in words, with any condition the worker adds (shown as served).
export function describeCascade(cascade, side, asset) {
  if (!cascade) return "no projection yet";
  if (cascade.modelled === false) return "not modelled: no market depth configured for the asset";
  const projected = cascade[side];
  if (!Number.isFinite(projected?.trigger_price)) return "no trigger within the scanned range";
  const parts = [
    `trigger ${fmt.price(projected.trigger_price)} (${fmt.distance(projected.trigger_price / cascade.price - 1)})`,
    `amplification ${projected.amplification.toFixed(1)}×`,
    `terminal ${fmt.price(projected.terminal_price)}`,
    `${fmt.usd(projected.liquidated_usd)} liquidated`,
  ];
  const contagion = contagionTerminal(cascade, side, asset);
  if (contagion !== null) parts.push(`contagion terminal ${fmt.price(contagion)}`);
  for (const [name, value] of Object.entries(projected)) {
    if (!CASCADE_FIELDS.has(name) && ["number", "boolean", "string"].includes(typeof value)) {
      parts.push(`${name.replaceAll("_", " ")}: ${value}`);
    }
  }
  return parts.join(" · ");
}

// Per side, the levels outward from the price with the value liquidated once the price has
// reached each one ({level, price, total}): a long counts as the price falls below its upper
// edge, a short as it rises to its lower edge; levels already beyond the price count at it.
export function outward(levels, price) {
  const sides = {};
  for (const side of ["long", "short"]) {
    const down = side === "long";
    const edge = (level) => (down ? level.price_high : level.price_low);
    const own = levels.filter((level) => level.side === side)
      .sort((a, b) => (down ? edge(b) - edge(a) : edge(a) - edge(b)));
    let total = 0;
    sides[side] = own.map((level) => {
      total += level.value_usd;
      const at = down ? Math.min(edge(level), price) : Math.max(edge(level), price);
      return { level, price: at, total };
    });
  }
  return sides;
}

// USD per side of the levels the price has already crossed (liquidatable at the price itself).
export function crossed(levels, price) {
  const sides = outward(levels, price);
  const atPrice = (side) => sides[side].filter((step) => step.price === price).at(-1)?.total ?? 0;
  return { long: atPrice("long"), short: atPrice("short") };
}

// ±r around the price.
export function around(price, r) {
  return [price * (1 - r), price * (1 + r)];
}

// The first range: ±10 % of the price, widened to show every marker, at most ±50 %.
export function autoDomain(price, marks) {
  const reach = Math.max(0.1, ...marks.map((mark) => 1.15 * Math.abs(mark.price / price - 1)));
  return around(price, Math.min(reach, 0.5));
}

// Every level and the price, with a little room on both sides.
export function levelsDomain(levels, price) {
  const low = Math.min(price, ...levels.map((level) => level.price_low));
  const high = Math.max(price, ...levels.map((level) => level.price_high));
  const pad = (high - low) * 0.02 || price * 0.01;
  return [Math.max(0, low - pad), high + pad];
}
