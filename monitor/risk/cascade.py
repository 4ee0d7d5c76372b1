"""Liquidation cascade projection for one asset (README "Risk model"): a shock releases
the liquidations at or beyond it, their flow moves the price through the depth model, which
releases more, up to the fixed point; and the search for the shock that triggers a cascade.

Q(p) counts every level at or beyond p seen from p₀ (down: levels ≥ p, including any already
past p₀, which are liquidatable now). Iterating p₁ = p_s, p_{n+1} = P(Q(p_n)) stops at the
first ladder rung c (levels sorted outward from p₀) where P(Q_c) no longer reaches level c + 1,
which is what the vectorised trigger search tests for every shock at once.

From clusters, a long level counts once the price is at or below its price_high and a short
one at or above its price_low: the cluster projection releases no less than the exact one, and
no more than the exact one for positions whose liquidation prices are one grid step closer to
p₀, so its terminal price lies between those two exact projections.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from monitor.risk.clusters import ClusterMap
from monitor.risk.depth import DepthModel
from monitor.risk.positions import MissingPrice, Position
from monitor.risk.sides import LEVEL_SIDE, CascadeSide
from monitor.risk.valuation import position_level, price_of

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CascadeProjection:
    """Where a shock to one asset ends once the liquidations it releases have traded."""

    asset: str
    start_price: float
    shock_price: float
    terminal_price: float
    amplification: float
    liquidated_usd: float
    rounds: int
    liquidated_usd_by_protocol: dict[str, float]
    bad_debt_usd: float
    side: CascadeSide


@dataclass(frozen=True)
class CascadeTrigger:
    """The shock nearest the current price whose cascade amplifies it at least a_min times and
    is significant: it moves the price at least min_induced_move (a fraction of the price)
    beyond the shock, or liquidates at least min_liquidated_usd."""

    side: CascadeSide
    trigger_price: float
    amplification: float
    terminal_price: float
    liquidated_usd: float
    induced_move: float = 0.0
    bad_debt_usd: float = 0.0


@dataclass
class Ladder:
    """One side's levels sorted outward from p₀ (down: by falling price, up: by rising)."""

    side: CascadeSide
    price: FloatArray
    quantity: FloatArray
    value_usd: FloatArray
    equity_base_usd: FloatArray
    net_units: FloatArray
    protocols: tuple[str, ...] = ()
    by_protocol: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        """Sort outward and precompute cumulative quantity and value."""
        order = np.argsort(-self.price if self.side == "down" else self.price, kind="stable")
        for name in ("price", "quantity", "value_usd", "equity_base_usd", "net_units",
                     "by_protocol"):
            setattr(self, name, getattr(self, name)[order])
        self.key = -self.price if self.side == "down" else self.price
        self.cum_quantity = np.concatenate([[0.0], np.cumsum(self.quantity)])
        self.cum_value = np.concatenate([[0.0], np.cumsum(self.value_usd)])

    def reached(self, price: float) -> int:
        """How many levels are at or beyond `price` (seen from p₀)."""
        key = -price if self.side == "down" else price
        return int(np.searchsorted(self.key, key, side="right"))

    def project(self, asset: str, p0: float, shock: float, depth: DepthModel
                ) -> CascadeProjection:
        """Iterate the fixed point from the shock and total what it liquidated."""
        count = self.reached(shock)
        rounds = 1 if count else 0
        price = depth.price_after(p0, shock, float(self.cum_quantity[count]), self.side)
        while (more := self.reached(price)) > count:
            count, rounds = more, rounds + 1
            price = depth.price_after(p0, shock, float(self.cum_quantity[count]), self.side)
        totals = self.by_protocol[:count].sum(axis=0).tolist()
        by_protocol = {name: usd for name, usd in zip(self.protocols, totals, strict=True)
                       if usd}
        shortfall = -(self.equity_base_usd[:count] + self.net_units[:count] * price)
        return CascadeProjection(
            asset=asset, start_price=p0, shock_price=shock, terminal_price=price,
            amplification=amplification(p0, shock, price),
            liquidated_usd=float(self.cum_value[count]), rounds=rounds,
            liquidated_usd_by_protocol=by_protocol,
            bad_debt_usd=float(np.maximum(shortfall, 0.0).sum()), side=self.side)


def amplification(p0: float, shock: float, terminal: float) -> float:
    """(p₀ − p_T) / (p₀ − p_s): how many times the cascade multiplies the shock's move."""
    if shock == p0:
        return 1.0 if terminal == p0 else math.inf
    return (p0 - terminal) / (p0 - shock)


def _side_of(p0: float, shock: float) -> CascadeSide:
    """A shock below the price runs down through longs, above it up through shorts."""
    return "up" if shock > p0 else "down"


def positions_ladder(positions: Iterable[Position], asset: str, prices: Mapping[str, float],
                     side: CascadeSide) -> Ladder:
    """Every position's own level through `asset` on one side (positions lacking a price they
    need are left out, as the book leaves them out)."""
    wanted = LEVEL_SIDE[side]
    rows: list[tuple[float, float, float, float, float]] = []
    codes: dict[str, int] = {}
    owners: list[int] = []
    for position in positions:
        try:
            level = position_level(position, asset, prices)
        except MissingPrice:
            continue
        if level is not None and level.side == wanted:
            rows.append((level.price, level.quantity, level.value_usd, level.equity_base_usd,
                         level.net_units))
            owners.append(codes.setdefault(level.protocol, len(codes)))
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    split = np.zeros((len(rows), len(codes)))
    split[np.arange(len(rows)), owners] = table[:, 2]
    return Ladder(side, table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(),
                  table[:, 3].copy(), table[:, 4].copy(), tuple(codes), split)


def clusters_ladder(clusters: ClusterMap, side: CascadeSide) -> Ladder:
    """The cluster levels of one side, each at its bucket edge nearest p₀."""
    chosen = np.flatnonzero(clusters.side > 0 if side == "down" else clusters.side < 0)
    edge = clusters.price_high if side == "down" else clusters.price_low
    return Ladder(side, edge[chosen], clusters.quantity[chosen], clusters.value_usd[chosen],
                  clusters.equity_base_usd[chosen], clusters.net_units[chosen],
                  clusters.protocols, clusters.by_protocol[chosen])


def project_cascade(positions: Iterable[Position], asset: str, prices: Mapping[str, float],
                    shock_price: float, depth: DepthModel) -> CascadeProjection:
    """The exact projection over single positions, each liquidated once at its own price."""
    p0 = price_of(prices, asset)
    side = _side_of(p0, shock_price)
    return positions_ladder(positions, asset, prices, side).project(asset, p0, shock_price,
                                                                    depth)


def project_cascade_from_clusters(clusters: ClusterMap, price: float, shock_price: float,
                                  depth: DepthModel) -> CascadeProjection:
    """The hot-path projection over cluster levels (within one grid step of the exact one)."""
    side = _side_of(price, shock_price)
    return clusters_ladder(clusters, side).project(clusters.asset, price, shock_price, depth)


def find_cascade_trigger(clusters: ClusterMap, price: float, depth: DepthModel,
                         side: CascadeSide, a_min: float = 2.0, levels: int = 200,
                         max_move: float = 0.5, min_induced_move: float = 0.0,
                         min_liquidated_usd: float = 0.0) -> CascadeTrigger | None:
    """The shock nearest `price`, among `levels` evenly spaced up to a move of max_move on
    `side`, whose cascade amplification reaches a_min and that is significant: the cascade
    adds a move of at least min_induced_move × price beyond the shock, or liquidates at least
    min_liquidated_usd (a thin sliver of positions just past the price amplifies the first
    shock without either); None when none does."""
    ladder = clusters_ladder(clusters, side)
    sign = -1.0 if side == "down" else 1.0
    shocks = price * (1.0 + sign * max_move * np.arange(1, levels + 1) / levels)
    n = ladder.price.size
    g = depth.factors(price, ladder.cum_quantity, side)  # g at every rung c = 0..n
    beyond = np.append(ladder.price, -np.inf if side == "down" else np.inf)  # level c + 1
    start = np.searchsorted(ladder.key, sign * shocks, side="right")  # rung the shock reaches
    with np.errstate(invalid="ignore"):
        reach = shocks[:, None] * g[None, :]
        stops = reach > beyond[None, :] if side == "down" else reach < beyond[None, :]
    stops |= np.arange(n + 1)[None, :] == n
    stops &= np.arange(n + 1)[None, :] >= start[:, None]
    rung = np.argmax(stops, axis=1)
    terminal = shocks * g[rung]
    liquidated = ladder.cum_value[rung]
    with np.errstate(invalid="ignore"):
        amplified = (price - terminal) / (price - shocks)
        induced = np.abs(terminal - shocks) / price
        significant = (induced >= min_induced_move) | (liquidated >= min_liquidated_usd)
    hit = np.flatnonzero((amplified >= a_min) & significant)
    if hit.size == 0:
        return None
    i, count = int(hit[0]), int(rung[hit[0]])
    shortfall = -(ladder.equity_base_usd[:count] + ladder.net_units[:count] * terminal[i])
    return CascadeTrigger(side, float(shocks[i]), float(amplified[i]), float(terminal[i]),
                          float(liquidated[i]), float(induced[i]),
                          float(np.maximum(shortfall, 0.0).sum()))
