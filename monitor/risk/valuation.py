"""Health factors and liquidation prices of single positions (README "Risk model"): the scalar
reference that the vectorised book must reproduce, and the figures the web view serves.

Lending, asset k, other prices fixed: HF(p) = (A + a·p)/(B + b·p), so p* = (B − A)/(a − b); it is
computed as p* = −s_other/s_k with s = Σ amount·LT·price over collateral minus Σ amount·price
over debt, summed leg by leg in snapshot order (collateral first), exactly as PositionBook sums
its slots, so the two agree bit for bit.

Positions of a protocol in the arithmetic registry (monitor.risk.arithmetic: Aave V3 and Morpho
Blue with exact legs) get the protocol's own integer health factor, and liquidation_price moves
the generic p* to where that arithmetic crosses HF = 1: for several Aave collaterals the two
differ by up to ~1/avgLT basis points (≈ 1.4e-4 relative), enough to call a position safe that
the pool liquidates; a Morpho position crosses where its market's own oracle does.
position_level keeps the generic formula (the clusters and the vectorised book reproduce it),
its equity counting the collateral a full liquidation recovers (monitor.risk.recovery).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.risk.arithmetic import exact_arithmetic
from monitor.risk.positions import LendingPosition, MissingPrice, PerpPosition, Position
from monitor.risk.recovery import recovery
from monitor.risk.sides import Side


@dataclass(frozen=True, slots=True)
class LiquidationLevel:
    """Where a position liquidates through one asset: "long" when the price falls to `price`,
    "short" when it rises to it."""

    price: float
    side: Side


@dataclass(frozen=True, slots=True)
class PositionLevel:
    """Everything a liquidation at `price` does to one asset's market, for clusters and cascades.

    quantity: base units sold (long) or bought (short); value_usd = quantity × price;
    debt_usd: debt repaid (close factor × debt at `price`); equity_base_usd and net_units give
    recovered collateral − debt at any price p of the asset as equity_base_usd + net_units × p
    (the collateral a full liquidation repays debt with, monitor.risk.recovery: bad debt where
    negative).
    """

    price: float
    side: Side
    quantity: float
    value_usd: float
    debt_usd: float
    equity_base_usd: float
    net_units: float
    protocol: str


def price_of(prices: Mapping[str, float], asset: str) -> float:
    """The asset's price, or MissingPrice naming it."""
    try:
        return prices[asset]
    except KeyError:
        raise MissingPrice(asset) from None


def health_factor(position: Position, prices: Mapping[str, float]) -> float:
    """Health factor (liquidatable below 1; math.inf without debt). Perps: equity divided by
    the maintenance margin. Positions a registered protocol values exactly: its own arithmetic."""
    if isinstance(position, PerpPosition):
        p = price_of(prices, position.asset)
        maintenance = position.maintenance_margin_ratio * abs(position.size) * p
        equity = position.margin + position.size * (p - position.entry_price)
        return equity / maintenance if maintenance > 0 else math.inf
    exact = exact_arithmetic(position)
    if exact is not None:
        return exact.health_factor(position, prices)
    weighted = sum(leg.amount * price_of(prices, leg.asset) * leg.liquidation_threshold
                   for leg in position.collateral)
    debt = sum(leg.amount * price_of(prices, leg.asset) for leg in position.debt)
    return weighted / debt if debt > 0 else math.inf


def position_values(position: Position, prices: Mapping[str, float]) -> tuple[float, float]:
    """(collateral_usd, debt_usd). A perp is read as a loan: a long holds size × price against
    size × entry − margin borrowed; a short holds margin + |size| × entry against |size| × price."""
    if isinstance(position, PerpPosition):
        p = price_of(prices, position.asset)
        s, entry, margin = position.size, position.entry_price, position.margin
        if s >= 0:
            return s * p, s * entry - margin
        return margin - s * entry, -s * p
    exact = exact_arithmetic(position)
    if exact is not None:
        return exact.values(position, prices)
    return (sum(leg.amount * price_of(prices, leg.asset) for leg in position.collateral),
            sum(leg.amount * price_of(prices, leg.asset) for leg in position.debt))


def _perp_level(position: PerpPosition) -> PositionLevel | None:
    """Isolated-margin liquidation: long p* = (s·E − M)/(s·(1 − m)),
    short p* = (M + q·E)/(q·(1 + m)) with q = −s."""
    s, entry, margin = position.size, position.entry_price, position.margin
    m = position.maintenance_margin_ratio
    if s > 0:
        price = (s * entry - margin) / (s * (1.0 - m))
    elif s < 0:
        price = (margin + -s * entry) / (-s * (1.0 + m))
    else:
        return None
    if not (price > 0 and math.isfinite(price)):
        return None
    if s > 0:
        return PositionLevel(price, "long", s, s * price, s * entry - margin, margin - s * entry,
                             s, position.protocol)
    return PositionLevel(price, "short", -s, -s * price, -s * price, margin + -s * entry, s,
                         position.protocol)


def _lending_level(position: LendingPosition, asset: str,
                   prices: Mapping[str, float]) -> PositionLevel | None:
    """Generic lending liquidation through `asset` and what it sells or buys there."""
    s_other = s_k = v_other = c_k = d_other = d_k = b_other = b_k = 0.0
    for leg in position.collateral:
        weighted = leg.amount * leg.liquidation_threshold
        if leg.asset == asset:
            s_k += weighted
            c_k += leg.amount
            b_k += leg.amount * leg.liquidation_bonus
        else:
            p = price_of(prices, leg.asset)
            s_other += weighted * p
            value = leg.amount * p
            v_other += value
            b_other += value * leg.liquidation_bonus
    for dleg in position.debt:
        if dleg.asset == asset:
            s_k += -dleg.amount
            d_k += dleg.amount
        else:
            p = price_of(prices, dleg.asset)
            s_other += -dleg.amount * p
            d_other += dleg.amount * p
    if s_k == 0:
        return None
    price = -s_other / s_k
    if not (price > 0 and math.isfinite(price)):
        return None
    collateral = v_other + c_k * price
    repaid = position.close_factor * (d_other + d_k * price)
    if s_k > 0:
        seized = min(repaid * (collateral + b_other + b_k * price) / collateral, collateral)
        quantity = seized * c_k / collateral
        side: Side = "long"
    else:
        quantity = position.close_factor * d_k
        side = "short"
    recovered = recovery(position)
    return PositionLevel(price, side, quantity, quantity * price, repaid,
                         recovered * v_other - d_other, recovered * c_k - d_k, position.protocol)


def position_level(position: Position, asset: str,
                   prices: Mapping[str, float]) -> PositionLevel | None:
    """The position's liquidation through `asset` (other prices fixed), or None when moving
    that price alone never liquidates it."""
    if isinstance(position, PerpPosition):
        return _perp_level(position) if position.asset == asset else None
    return _lending_level(position, asset, prices)


def liquidation_price(position: Position, asset: str,
                      prices: Mapping[str, float]) -> LiquidationLevel | None:
    """The price of `asset` at which the position becomes liquidatable, other prices fixed."""
    level = position_level(position, asset, prices)
    if level is None:
        return None
    if isinstance(position, LendingPosition) and (exact := exact_arithmetic(position)):
        crossing = exact.crossing_price(position, asset, prices, level.price,
                                        liquidates_below=level.side == "long")
        if crossing is not None:
            return LiquidationLevel(crossing, level.side)
    return LiquidationLevel(level.price, level.side)


def liquidation_prices(position: Position,
                       prices: Mapping[str, float]) -> dict[str, LiquidationLevel]:
    """Liquidation levels through every asset the position touches (assets without one omitted)."""
    levels = {asset: liquidation_price(position, asset, prices)
              for asset in sorted(position.assets())}
    return {asset: level for asset, level in levels.items() if level is not None}
