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
below 1 − d fall, rows at or above 1 + d stand, d the row's protocol's generic_distance (monitor.
risk.arithmetic), and only the rows between (or lacking a price) get the scalar, exact health
factor; the fallen rows are liquidated in one vectorised pass (monitor.risk.flow_kernels, the
same sums in the same leg order). It equals the scalar step whenever every position's exact
health factor lies within d (relative) of its generic one across 1: generic positions and perps
are decided by the same formula, summed in another order (d = 1e-9); Aave V3's integer
arithmetic differs from the generic formula by under 1.4e-4 relative (d = 1e-3); a Morpho
market's by its floors plus its oracle's distance from the ratio of its legs' USD prices (8e-11
on the devnet; d = 1e-3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from monitor.risk.arithmetic import generic_distance
from monitor.risk.book import PositionBook
from monitor.risk.level_kernels import HealthTerms
from monitor.risk.market_prices import MarketPairs, follow_pairs, market_pairs
from monitor.risk.positions import LendingPosition, MissingPrice, PerpPosition, Position
from monitor.risk.recovery import recovery
from monitor.risk.valuation import health_factor, position_values


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


def falls(position: Position, prices: Mapping[str, float]) -> bool:
    """Whether the position is liquidatable at `prices` (not when a price it needs is missing)."""
    try:
        return health_factor(position, prices) < 1.0
    except MissingPrice:
        return False


class _Rounds:
    """What a step keeps between rounds: the market price keys its positions were quoted at,
    and how many rounds it answered."""

    def __init__(self, pairs: MarketPairs) -> None:
        self.pairs = pairs
        self.rounds = 0

    def _open(self, start: Mapping[str, float], prices: Mapping[str, float]
              ) -> tuple[dict[str, float], Release]:
        """A round's prices with its market prices following them, and its empty release (the
        first round's names the market pairs)."""
        current = follow_pairs(self.pairs, start, prices)
        release = Release(markets={} if self.rounds else dict(self.pairs))
        self.rounds += 1
        return current, release


class PositionsStep(_Rounds):
    """The scalar step over a list of positions: every health factor checked exactly."""

    def __init__(self, positions: Iterable[Position]) -> None:
        self.positions = list(positions)
        super().__init__(market_pairs(self.positions))
        self.gone: list[Position] = []
        self.gone_ids: set[str] = set()

    def release(self, start: Mapping[str, float], prices: Mapping[str, float]) -> Release:
        """Liquidate what falls at `prices`."""
        current, release = self._open(start, prices)
        falling = [p for p in self.positions
                   if p.position_id not in self.gone_ids and falls(p, current)]
        for position in falling:
            usd = liquidate(position, current, release.sold)
            release.usd_by_protocol[position.protocol] = (
                release.usd_by_protocol.get(position.protocol, 0.0) + usd)
        release.liquidated = len(falling)
        self.gone.extend(falling)
        self.gone_ids.update(p.position_id for p in falling)
        if not falling:
            release.bad_debt_by_protocol = bad_debt(self.gone, current)
        return release


class BookStep(_Rounds):
    """The step over a columnar book: vectorised generic decisions outside each protocol's
    band around 1, the exact check inside on the positions `find` decodes (the book holds
    arrays only), vectorised liquidations; `pairs` are the market price keys its positions
    were quoted at."""

    def __init__(self, book: PositionBook, find: Callable[[str], Position | None],
                 pairs: MarketPairs) -> None:
        super().__init__(pairs)
        self.book, self.find = book, find
        self.gone: list[str] = []
        self._revision = -1  # the book revision the row caches below were made at
        self._terms: HealthTerms | None = None
        self._band = np.zeros(0)
        self._alive = np.zeros(0, dtype=np.bool_)

    def _sync(self) -> HealthTerms:
        """The row caches, remade when the book changed since the last round."""
        if self._terms is None or self._revision != self.book.revision:
            self._revision = self.book.revision
            self._terms = self.book.health_terms()
            self._band = self.book.by_protocol(generic_distance)
            self._alive = np.ones(len(self.book), dtype=np.bool_)
            self._alive[self.book.rows_of(self.gone)] = False
        return self._terms

    def _falls(self, key: str, prices: Mapping[str, float]) -> bool:
        """The exact check of one position near 1."""
        position = self.find(key)
        return position is not None and falls(position, prices)

    def release(self, start: Mapping[str, float], prices: Mapping[str, float]) -> Release:
        """Liquidate what falls at `prices`."""
        current, release = self._open(start, prices)
        hf = self._sync().factors(self.book.price_table(prices))
        with np.errstate(invalid="ignore"):
            low = hf < 1.0 - self._band
            near = ~(hf >= 1.0 + self._band) & ~low & self._alive  # nan (a price missing) too
        rows = np.flatnonzero(low & self._alive).tolist()
        near_rows = np.flatnonzero(near)
        rows += [row for row, key in zip(near_rows.tolist(), self.book.ids_at(near_rows),
                                         strict=True)
                 if self._falls(key, current)]
        if not rows:
            found = self.book.liquidations(np.flatnonzero(~self._alive), current)
            release.bad_debt_by_protocol = found.shortfall_by_protocol
            return release
        falling = np.array(rows, dtype=np.intp)
        flows = self.book.liquidations(falling, current)
        release.sold, release.usd_by_protocol = flows.sold, flows.usd_by_protocol
        release.liquidated = falling.size
        self._alive[falling] = False
        self.gone.extend(self.book.ids_at(falling))
        return release
