"""One set of positions' part of a joint cascade (monitor.risk.contagion): at a round's prices,
what its positions not yet liquidated release, so that a coordinator summing every partition's
release runs the same rounds as one pass over the union of the positions.

A position falls when its health factor (its protocol's own arithmetic where one applies) is
below 1 at the round's prices, and is liquidated at those prices, valued at its legs' USD
prices: a lending liquidation seizes min(close factor × debt × (1 + value-weighted bonus),
collateral) pro rata from its collateral legs (sold) and repays close factor × each debt
(bought); a perp long sells its size, a short buys it. (The protocols' own values differ from
the legs' by Aave V3's flooring of each leg to 1e-8 USD and by a Morpho oracle's distance from
the ratio of its legs' USD prices; only who falls needs their arithmetic.) Market prices (a
Morpho market's own oracle) follow their two assets' USD prices locally: each depends only on
its own start quote and those two prices, so every partition derives the same value. A round
in which nothing falls here also carries the bad debt of every position gone so far at that
round's prices: in the round where nothing falls anywhere those are the terminal prices.

BookStep decides with the generic health factor of every row in one vectorised pass: rows
below 1 − PREFILTER fall, rows at or above 1 + PREFILTER stand, and only the rows between (or
lacking a price) get the scalar, exact health factor. It equals the scalar step whenever every
position's exact health factor lies within PREFILTER (relative) of its generic one across 1:
generic positions and perps are decided by the same formula bit for bit; Aave V3's integer
arithmetic differs from the generic formula by under 1.4e-4 relative; a Morpho market's by its
floors plus its oracle's distance from the ratio of its legs' USD prices (8e-11 on the devnet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from monitor.risk.book import PositionBook
from monitor.risk.market_prices import MarketPairs, follow_pairs, market_pairs
from monitor.risk.positions import LendingPosition, MissingPrice, PerpPosition, Position
from monitor.risk.recovery import recovery
from monitor.risk.valuation import health_factor, position_values

PREFILTER: Final = 1e-3  # generic health factors below 1 + PREFILTER get the exact check


@dataclass
class Release:
    """What a set of positions releases at one round's prices: net base units sold per asset
    (bought when negative), USD liquidated per protocol, how many positions fell, in a round
    where none fell the bad debt per protocol of every position gone so far, and in its first
    round the market price keys it follows with their two assets."""

    sold: dict[str, float] = field(default_factory=dict)
    usd_by_protocol: dict[str, float] = field(default_factory=dict)
    liquidated: int = 0
    bad_debt_by_protocol: dict[str, float] = field(default_factory=dict)
    markets: MarketPairs = field(default_factory=dict)


class ContagionStep(Protocol):
    """A set of positions taking part in a joint cascade; it remembers what it liquidated."""

    def release(self, start: Mapping[str, float], prices: Mapping[str, float]) -> Release:
        """Liquidate what falls at `prices` (USD prices; market prices follow from `start`)."""
        ...


def liquidate(position: Position, prices: Mapping[str, float], sold: dict[str, float]) -> float:
    """Record in `sold` what liquidating the position trades at `prices`; its USD value."""
    if isinstance(position, PerpPosition):
        sold[position.asset] = sold.get(position.asset, 0.0) + position.size
        return abs(position.size) * prices[position.asset]
    return _liquidate_lending(position, prices, sold)


def leg_values(position: Position, prices: Mapping[str, float]) -> tuple[float, float]:
    """(collateral_usd, debt_usd) at the legs' USD prices (a perp as position_values reads it)."""
    if isinstance(position, PerpPosition):
        return position_values(position, prices)
    return (sum(leg.amount * prices[leg.asset] for leg in position.collateral),
            sum(leg.amount * prices[leg.asset] for leg in position.debt))


def _liquidate_lending(position: LendingPosition, prices: Mapping[str, float],
                       sold: dict[str, float]) -> float:
    """Seize collateral pro rata by value, repay close factor × every debt."""
    collateral, debt = leg_values(position, prices)
    if collateral <= 0:
        return 0.0
    bonus = sum(leg.amount * prices[leg.asset] * leg.liquidation_bonus
                for leg in position.collateral) / collateral
    seized = min(position.close_factor * debt * (1.0 + bonus), collateral)
    for leg in position.collateral:
        sold[leg.asset] = sold.get(leg.asset, 0.0) + seized * leg.amount / collateral
    for dleg in position.debt:
        sold[dleg.asset] = sold.get(dleg.asset, 0.0) - position.close_factor * dleg.amount
    return seized


def bad_debt(positions: Iterable[Position], prices: Mapping[str, float]) -> dict[str, float]:
    """Per protocol, the debt a full liquidation at `prices` leaves uncovered by the collateral
    the protocol recovers (monitor.risk.recovery)."""
    out: dict[str, float] = {}
    for position in positions:
        collateral, debt = leg_values(position, prices)
        shortfall = max(debt - recovery(position) * collateral, 0.0)
        if shortfall > 0:
            out[position.protocol] = out.get(position.protocol, 0.0) + shortfall
    return out


@dataclass
class _Gone:
    """The positions a step has liquidated, by id."""

    positions: list[Position] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    rounds: int = 0

    def settle(self, sure: Iterable[Position], candidates: Iterable[Position],
               pairs: MarketPairs, start: Mapping[str, float],
               prices: Mapping[str, float]) -> Release:
        """Liquidate the positions not yet gone that are `sure` to fall and the `candidates`
        whose health factor is below 1 at `prices` (the markets' prices follow `pairs`; the
        first release reports them)."""
        current = follow_pairs(pairs, start, prices)
        release = Release(markets={} if self.rounds else dict(pairs))
        self.rounds += 1
        falling = [p for p in sure if p.position_id not in self.ids]
        for position in candidates:
            if position.position_id in self.ids:
                continue
            try:
                if health_factor(position, current) < 1.0:
                    falling.append(position)
            except MissingPrice:
                continue
        for position in falling:
            usd = liquidate(position, current, release.sold)
            release.usd_by_protocol[position.protocol] = (
                release.usd_by_protocol.get(position.protocol, 0.0) + usd)
        release.liquidated = len(falling)
        self.positions.extend(falling)
        self.ids.update(p.position_id for p in falling)
        if not falling:
            release.bad_debt_by_protocol = bad_debt(self.positions, current)
        return release


class PositionsStep:
    """The scalar step over a list of positions: every health factor checked exactly."""

    def __init__(self, positions: Iterable[Position]) -> None:
        self.positions = list(positions)
        self.pairs = market_pairs(self.positions)
        self.gone = _Gone()

    def release(self, start: Mapping[str, float], prices: Mapping[str, float]) -> Release:
        """Liquidate what falls at `prices`."""
        return self.gone.settle((), self.positions, self.pairs, start, prices)


class BookStep:
    """The step over a columnar book: a vectorised generic prefilter, then the exact check."""

    def __init__(self, book: PositionBook, pairs: MarketPairs | None = None,
                 prefilter: float = PREFILTER) -> None:
        self.book = book
        self.pairs = market_pairs(book.positions_at(range(len(book)))) if pairs is None \
            else pairs
        self.prefilter = prefilter
        self.gone = _Gone()

    def release(self, start: Mapping[str, float], prices: Mapping[str, float]) -> Release:
        """Liquidate what falls at `prices`."""
        hf = self.book.health_factors(prices)
        with np.errstate(invalid="ignore"):
            sure = hf < 1.0 - self.prefilter
            near = ~(hf >= 1.0 + self.prefilter) & ~sure  # nan (a price missing) included
        return self.gone.settle(self.book.positions_at(np.flatnonzero(sure).tolist()),
                                self.book.positions_at(np.flatnonzero(near).tolist()),
                                self.pairs, start, prices)
