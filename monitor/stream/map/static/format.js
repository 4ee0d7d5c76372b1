// How the map pages write numbers: compact USD for values, enough digits for prices, signed
// percent for distances from the price.

const compactUsd = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1,
});
const priceUsd = [ // cents from $100, four decimals from $1, four significant digits below
  [100, new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" })],
  [1, new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 4 })],
  [0, new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumSignificantDigits: 4 })],
];

export function usd(value) {
  return Number.isFinite(value) ? compactUsd.format(value) : "–";
}

export function price(value) {
  if (!Number.isFinite(value)) return "–";
  return priceUsd.find(([from]) => Math.abs(value) >= from)[1].format(value);
}

// An axis tick: as many decimals as the tick step needs, grouped thousands.
export function tickPrice(value, step) {
  const decimals = Math.max(0, Math.ceil(-Math.log10(step)));
  return "$" + value.toLocaleString("en-US", {
    minimumFractionDigits: decimals, maximumFractionDigits: decimals,
  });
}

export function distance(fraction) {
  if (!Number.isFinite(fraction)) return "–";
  const sign = fraction > 0 ? "+" : fraction < 0 ? "−" : "";
  return `${sign}${Math.abs(fraction * 100).toFixed(2)} %`;
}

export function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
}
