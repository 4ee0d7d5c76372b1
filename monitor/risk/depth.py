"""Market depth models: how far the price of an asset moves when liquidations sell (or buy) a
quantity of it, mirrored for the up side (README "Risk model")."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from monitor.risk.sides import CascadeSide

FloatArray = npt.NDArray[np.float64]


class DepthModel(Protocol):
    """Price impact of a liquidation flow: the price after `quantity` base units are sold
    ("down") or bought ("up") starting from `shock_price`, P(Q) = shock_price × g(Q)."""

    def price_after(self, p0: float, shock_price: float, quantity: float,
                    side: CascadeSide) -> float:
        """The price once `quantity` base units have traded (p0 scales a USD depth)."""
        ...

    def factors(self, p0: float, quantities: FloatArray, side: CascadeSide) -> FloatArray:
        """g(Q) for many quantities at once (vectorised trigger search)."""
        ...


@dataclass(frozen=True)
class PowerLawDepth:
    """g(Q) = 1 ∓ 0.02·(Q·p0/D₂)^δ: D₂ USD moves the price 2 %; δ = 1 linear, 0.5 square root.
    A sale that would take the price below zero leaves it at zero."""

    depth_usd_2pct: float
    exponent: float = 1.0

    def __post_init__(self) -> None:
        """Refuse depths and exponents that are not positive and finite."""
        for name, value in (("depth_usd_2pct", self.depth_usd_2pct),
                            ("exponent", self.exponent)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: {value!r} must be positive and finite")

    def factors(self, p0: float, quantities: FloatArray, side: CascadeSide) -> FloatArray:
        """g(Q), vectorised."""
        impact = 0.02 * (np.asarray(quantities, dtype=np.float64) * p0
                         / self.depth_usd_2pct) ** self.exponent
        return np.maximum(1.0 - impact, 0.0) if side == "down" else 1.0 + impact

    def price_after(self, p0: float, shock_price: float, quantity: float,
                    side: CascadeSide) -> float:
        """shock_price × g(quantity)."""
        return shock_price * float(self.factors(p0, np.array([quantity]), side)[0])


@dataclass(frozen=True)
class ConstantProductDepth:
    """An x·y = k pool holding `reserve` base units, the fee kept in the pool (Uniswap v2: 0.003).
    Selling Q: g = R² / ((R + γQ)(R + Q)); buying Q: g = R(γ(R − Q) + Q) / (γ(R − Q)²),
    infinite once the pool is drained; γ = 1 − fee. Without a fee: (R/(R ± Q))²."""

    reserve: float
    fee: float = 0.0

    def __post_init__(self) -> None:
        """Refuse a reserve that is not positive and finite, or a fee outside [0, 1)."""
        if not (math.isfinite(self.reserve) and self.reserve > 0):
            raise ValueError(f"reserve: {self.reserve!r} must be positive and finite")
        if not 0.0 <= self.fee < 1.0:
            raise ValueError(f"fee: {self.fee!r} outside [0, 1)")

    def factors(self, p0: float, quantities: FloatArray, side: CascadeSide) -> FloatArray:
        """g(Q), vectorised (p0 is not needed: the pool's depth is in base units)."""
        q = np.asarray(quantities, dtype=np.float64)
        r, gamma = self.reserve, 1.0 - self.fee
        if side == "down":
            return r * r / ((r + gamma * q) * (r + q))
        left = r - q
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(left > 0, r * (gamma * left + q) / (gamma * left * left), np.inf)

    def price_after(self, p0: float, shock_price: float, quantity: float,
                    side: CascadeSide) -> float:
        """shock_price × g(quantity)."""
        return shock_price * float(self.factors(p0, np.array([quantity]), side)[0])


def pooled_depth(pools: Iterable[tuple[float, float]]) -> ConstantProductDepth:
    """One pool standing for several (reserve, fee) pools of an asset at the same spot: the
    reserves summed, the fee reserve-weighted. Exact when the fees are equal (a sale routed
    across pools in proportion to their reserves, as arbitrage and routers split it, moves
    each by the same factor as the summed pool); with unequal fees, the weighted fee is an
    approximation (the best split favours the cheaper pool a little)."""
    listed = [(float(reserve), float(fee)) for reserve, fee in pools if reserve > 0]
    if not listed:
        raise ValueError("pooled_depth: no pool with a positive reserve")
    total = sum(reserve for reserve, _ in listed)
    return ConstantProductDepth(reserve=total,
                                fee=sum(reserve * fee for reserve, fee in listed) / total)
