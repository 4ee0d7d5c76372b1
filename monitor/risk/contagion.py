"""Contagion: a shock to one asset moves correlated assets by configured betas, then
liquidations run jointly over every asset the liquidated positions hold, each liquidated dollar
attributed to its protocol as direct (released by the shock and its co-moves alone) or induced
(released only by the price impact of other liquidations).

Each round liquidates every position whose health factor is below 1 at the round's prices,
valuing what it trades at those prices: a lending liquidation seizes min(close factor × debt ×
(1 + value-weighted bonus), collateral) pro rata from its collateral legs (sold) and repays
close factor × each debt (bought); a perp long sells its size, a short buys it. Each asset's
price is then its shocked price moved by its depth model for the net base units traded so far
(assets without a depth model only follow their beta), and a market price (a Morpho market's own
oracle quote) follows the USD prices of its two assets. Bad debt is the debt a full liquidation
at the terminal prices leaves uncovered by the collateral the protocol recovers
(monitor.risk.recovery: Morpho Blue repays collateral / LIF).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from monitor.risk.depth import DepthModel
from monitor.risk.market_prices import follow_market_prices
from monitor.risk.positions import LendingPosition, MissingPrice, PerpPosition, Position
from monitor.risk.recovery import recovery
from monitor.risk.sides import CascadeSide
from monitor.risk.valuation import health_factor, position_values, price_of


@dataclass(frozen=True)
class ContagionModel:
    """Betas by shocked asset ({shocked: {other: beta}}) and each asset's market depth."""

    betas: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    depths: Mapping[str, DepthModel] = field(default_factory=dict)

    def shocked_prices(self, prices: Mapping[str, float], asset: str,
                       shock_price: float) -> dict[str, float]:
        """Every price after the shock and its co-moves p·(1 + β·r), r the shocked return."""
        move = shock_price / price_of(prices, asset) - 1.0
        moved = dict(prices)
        for other, beta in self.betas.get(asset, {}).items():
            if other in moved and other != asset:
                moved[other] = max(moved[other] * (1.0 + beta * move), 0.0)
        moved[asset] = shock_price
        return moved


@dataclass(frozen=True)
class ContagionProjection:
    """Terminal prices of a joint cascade and who lost what, direct or induced."""

    shocked_asset: str
    shock_price: float
    start_prices: dict[str, float]
    shocked_prices: dict[str, float]
    terminal_prices: dict[str, float]
    net_sold: dict[str, float]
    liquidated_usd: float
    direct_usd_by_protocol: dict[str, float]
    induced_usd_by_protocol: dict[str, float]
    rounds: int
    bad_debt_usd: float

    def liquidated_usd_by_protocol(self) -> dict[str, dict[str, float]]:
        """{protocol: {"direct": usd, "induced": usd}}."""
        names = sorted({*self.direct_usd_by_protocol, *self.induced_usd_by_protocol})
        return {name: {"direct": self.direct_usd_by_protocol.get(name, 0.0),
                       "induced": self.induced_usd_by_protocol.get(name, 0.0)}
                for name in names}


def _liquidate(position: Position, prices: Mapping[str, float],
               net_sold: dict[str, float]) -> float:
    """Record what liquidating the position trades at `prices`; its USD value."""
    if isinstance(position, PerpPosition):
        net_sold[position.asset] = net_sold.get(position.asset, 0.0) + position.size
        return abs(position.size) * prices[position.asset]
    return _liquidate_lending(position, prices, net_sold)


def _liquidate_lending(position: LendingPosition, prices: Mapping[str, float],
                       net_sold: dict[str, float]) -> float:
    """Seize collateral pro rata by value, repay close factor × every debt."""
    collateral, debt = position_values(position, prices)
    if collateral <= 0:
        return 0.0
    bonus = sum(leg.amount * prices[leg.asset] * leg.liquidation_bonus
                for leg in position.collateral) / collateral
    seized = min(position.close_factor * debt * (1.0 + bonus), collateral)
    for leg in position.collateral:
        net_sold[leg.asset] = net_sold.get(leg.asset, 0.0) + seized * leg.amount / collateral
    for dleg in position.debt:
        net_sold[dleg.asset] = (net_sold.get(dleg.asset, 0.0)
                                - position.close_factor * dleg.amount)
    return seized


def _impacted(model: ContagionModel, start: Mapping[str, float],
              shocked: Mapping[str, float], net_sold: Mapping[str, float]) -> dict[str, float]:
    """Shocked prices moved by each asset's depth for the net quantity traded in it."""
    prices = dict(shocked)
    for asset, sold in net_sold.items():
        depth = model.depths.get(asset)
        if depth is not None and sold != 0 and asset in start:
            side: CascadeSide = "down" if sold > 0 else "up"
            factor = depth.factors(start[asset], np.array([abs(sold)]), side)[0]
            prices[asset] = shocked[asset] * float(factor)
    return prices


def project_contagion(positions: Iterable[Position], shocked_asset: str,
                      prices: Mapping[str, float], shock_price: float,
                      model: ContagionModel) -> ContagionProjection:
    """Run a shock and its co-moves through every position to the joint fixed point."""
    book = list(positions)
    shocked = follow_market_prices(book, prices,
                                   model.shocked_prices(prices, shocked_asset, shock_price))
    current = dict(shocked)
    net_sold: dict[str, float] = {}
    by_round: list[dict[str, float]] = [{}, {}]  # direct, induced
    gone: list[Position] = []
    alive = book
    rounds = 0
    while True:
        falling: list[Position] = []
        standing: list[Position] = []
        for position in alive:
            try:
                (falling if health_factor(position, current) < 1.0 else standing).append(position)
            except MissingPrice:
                standing.append(position)
        if not falling:
            break
        split = by_round[0 if rounds == 0 else 1]
        rounds += 1
        for position in falling:
            usd = _liquidate(position, current, net_sold)
            split[position.protocol] = split.get(position.protocol, 0.0) + usd
        gone.extend(falling)
        alive = standing
        current = follow_market_prices(book, prices,
                                       _impacted(model, prices, shocked, net_sold))
    bad_debt = 0.0
    for position in gone:
        collateral, debt = position_values(position, current)
        bad_debt += max(debt - recovery(position) * collateral, 0.0)
    return ContagionProjection(
        shocked_asset=shocked_asset, shock_price=shock_price, start_prices=dict(prices),
        shocked_prices=shocked, terminal_prices=current, net_sold=net_sold,
        liquidated_usd=sum(by_round[0].values()) + sum(by_round[1].values()),
        direct_usd_by_protocol=by_round[0], induced_usd_by_protocol=by_round[1],
        rounds=rounds, bad_debt_usd=bad_debt)
