"""Contagion: a shock to one asset moves correlated assets by configured betas, then
liquidations run jointly over every asset the liquidated positions hold, each liquidated dollar
attributed to its protocol as direct (released by the shock and its co-moves alone) or induced
(released only by the price impact of other liquidations).

The coordinator (JointCascade) holds the price vector; each round every step (a set of
positions, monitor.risk.contagion_step) liquidates what falls at the round's prices and returns
what it traded, and the coordinator moves each asset from its shocked price by its depth model
for the net base units traded so far (assets without a depth model only follow their beta).
Rounds end when nothing falls anywhere; bad debt is the debt a full liquidation at those
terminal prices leaves uncovered by the collateral each protocol recovers.

Positions split across steps give the projection of their union: a step's release depends only
on its own positions and the round's prices, and the coordinator sums releases, so the split
differs from one step over every position only in the order net quantities are summed (relative
1e-16 per addition), which can change the outcome only for a position whose health factor lies
within that of 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from monitor.risk.contagion_step import ContagionStep, PositionsStep, Release
from monitor.risk.depth import DepthModel
from monitor.risk.market_prices import MarketPairs, follow_pairs
from monitor.risk.positions import Position
from monitor.risk.sides import CascadeSide
from monitor.risk.valuation import price_of


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
    bad_debt_usd_by_protocol: dict[str, float] = field(default_factory=dict)

    def liquidated_usd_by_protocol(self) -> dict[str, dict[str, float]]:
        """{protocol: {"direct": usd, "induced": usd}}."""
        names = sorted({*self.direct_usd_by_protocol, *self.induced_usd_by_protocol})
        return {name: {"direct": self.direct_usd_by_protocol.get(name, 0.0),
                       "induced": self.induced_usd_by_protocol.get(name, 0.0)}
                for name in names}


def _add(into: dict[str, float], more: Mapping[str, float]) -> None:
    """Sum `more` into `into`, key by key."""
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value


class JointCascade:
    """The coordinator of one joint cascade: the price vector of the current round, and what
    the steps' releases added up to so far."""

    def __init__(self, shocked_asset: str, prices: Mapping[str, float], shock_price: float,
                 model: ContagionModel) -> None:
        self.shocked_asset, self.shock_price, self.model = shocked_asset, shock_price, model
        self.start = dict(prices)
        self.shocked = model.shocked_prices(prices, shocked_asset, shock_price)
        self.prices = dict(self.shocked)  # the round's USD prices (market prices: see steps)
        self.net_sold: dict[str, float] = {}
        self.by_round: tuple[dict[str, float], dict[str, float]] = ({}, {})  # direct, induced
        self.rounds = 0
        self.markets: MarketPairs = {}
        self.bad_debt: dict[str, float] = {}
        self.done = False

    def absorb(self, releases: Iterable[Release]) -> bool:
        """Sum every step's release at the round's prices and move to the next round's prices;
        True once nothing fell (the round's prices are terminal)."""
        releases = list(releases)
        for release in releases:
            self.markets.update(release.markets)
        if not any(release.liquidated for release in releases):
            for release in releases:
                _add(self.bad_debt, release.bad_debt_by_protocol)
            self.done = True
            return True
        split = self.by_round[0 if self.rounds == 0 else 1]
        self.rounds += 1
        round_sold: dict[str, float] = {}
        for release in releases:
            _add(round_sold, release.sold)
            _add(split, release.usd_by_protocol)
        _add(self.net_sold, round_sold)
        self.prices = self._impacted()
        return False

    def _impacted(self) -> dict[str, float]:
        """Shocked prices moved by each asset's depth for the net quantity traded in it."""
        prices = dict(self.shocked)
        for asset, sold in self.net_sold.items():
            depth = self.model.depths.get(asset)
            if depth is not None and sold != 0 and asset in self.start:
                side: CascadeSide = "down" if sold > 0 else "up"
                factor = depth.factors(self.start[asset], np.array([abs(sold)]), side)[0]
                prices[asset] = self.shocked[asset] * float(factor)
        return prices

    def projection(self) -> ContagionProjection:
        """The projection once done (market prices followed for every market seen)."""
        direct, induced = self.by_round
        return ContagionProjection(
            shocked_asset=self.shocked_asset, shock_price=self.shock_price,
            start_prices=self.start,
            shocked_prices=follow_pairs(self.markets, self.start, self.shocked),
            terminal_prices=follow_pairs(self.markets, self.start, self.prices),
            net_sold=dict(self.net_sold),
            liquidated_usd=sum(direct.values()) + sum(induced.values()),
            direct_usd_by_protocol=dict(direct), induced_usd_by_protocol=dict(induced),
            rounds=self.rounds, bad_debt_usd=sum(self.bad_debt.values()),
            bad_debt_usd_by_protocol=dict(self.bad_debt))


def run_joint(cascade: JointCascade, steps: Iterable[ContagionStep]) -> ContagionProjection:
    """Run every step round by round in this process to the joint fixed point."""
    parts = list(steps)
    while not cascade.absorb([step.release(cascade.start, cascade.prices) for step in parts]):
        pass
    return cascade.projection()


def project_contagion(positions: Iterable[Position], shocked_asset: str,
                      prices: Mapping[str, float], shock_price: float,
                      model: ContagionModel) -> ContagionProjection:
    """Run a shock and its co-moves through every position to the joint fixed point."""
    return run_joint(JointCascade(shocked_asset, prices, shock_price, model),
                     [PositionsStep(positions)])
