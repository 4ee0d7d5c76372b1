"""Aave V3's own integer arithmetic (GenericLogic.calculateUserAccountData), so that the health
factor served for an Aave V3 position equals the chain's getUserAccountData exactly.

A float health factor differs from the chain's by up to ~1/avgLT (about 1.4e-4) for several
collaterals, because the pool floors each reserve's base-currency value, truncates the
value-weighted liquidation threshold to whole basis points and rounds half-up in percentMul and
wadDiv. Near HF = 1 that difference decides whether an account is liquidatable, so the
liquidation price served for such a position is where this arithmetic crosses 1 (crossing_price).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from monitor.risk.positions import CollateralLeg, DebtLeg, LendingPosition, MissingPrice

PROTOCOL: Final = "aave-v3"
WAD: Final = 10**18
PERCENTAGE_FACTOR: Final = 10_000
HALF_PERCENTAGE_FACTOR: Final = 5_000
PRICE_UNIT: Final = 10**8
CROSSING_BRACKET: Final = 1e-3  # first relative half-width searched around the float estimate
CROSSING_WIDENING: Final = 4.0  # the half-width grows by this until the bracket holds the crossing


@dataclass(frozen=True, slots=True)
class AccountData:
    """getUserAccountData's figures: base-currency (1e8 USD) totals, average LT in bps, HF in wad
    (None when there is no debt: the pool answers type(uint256).max)."""

    total_collateral_base: int
    total_debt_base: int
    avg_liquidation_threshold_bps: int
    health_factor_wad: int | None


def percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul: value × percentage / 1e4, rounded half up."""
    return (value * percentage + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def wad_div(a: int, b: int) -> int:
    """WadRayMath.wadDiv: a × 1e18 / b, rounded half up."""
    return (a * WAD + b // 2) // b


def oracle_price(prices: Mapping[str, float], asset: str) -> int:
    """The oracle's 1e8 answer behind a USD price published as answer / 1e8."""
    if asset not in prices:
        raise MissingPrice(asset)
    return round(prices[asset] * PRICE_UNIT)


def is_exact(position: LendingPosition) -> bool:
    """True when the position is Aave V3's and every leg carries its raw amount and decimals."""
    legs: list[CollateralLeg | DebtLeg] = [*position.collateral, *position.debt]
    return position.protocol == PROTOCOL and all(
        leg.amount_raw is not None and leg.decimals is not None for leg in legs)


def account_data(position: LendingPosition, prices: Mapping[str, float]) -> AccountData:
    """The pool's account figures for a position whose legs are exact (see is_exact)."""
    collateral = weighted = debt = 0
    for leg in position.collateral:
        assert leg.amount_raw is not None and leg.decimals is not None
        value = leg.amount_raw * oracle_price(prices, leg.asset) // 10**leg.decimals
        collateral += value
        weighted += value * round(leg.liquidation_threshold * PERCENTAGE_FACTOR)
    for dleg in position.debt:
        assert dleg.amount_raw is not None and dleg.decimals is not None
        debt += dleg.amount_raw * oracle_price(prices, dleg.asset) // 10**dleg.decimals
    avg_lt = weighted // collateral if collateral else 0
    hf = wad_div(percent_mul(collateral, avg_lt), debt) if debt else None
    return AccountData(collateral, debt, avg_lt, hf)


def _liquidatable(position: LendingPosition, prices: Mapping[str, float], asset: str,
                  answer: int) -> bool:
    """True when the pool would liquidate the position with `asset`'s oracle at `answer`."""
    wad = account_data(position, {**prices, asset: answer / PRICE_UNIT}).health_factor_wad
    return wad is not None and wad < WAD


def crossing_price(position: LendingPosition, asset: str, prices: Mapping[str, float],
                   estimate: float, liquidates_below: bool) -> float | None:
    """The price of `asset` (other prices fixed) where the pool's own health factor crosses 1:
    the highest oracle answer that is liquidatable when it liquidates below (a "long"), the
    lowest when above. Bisection on the integer answer in a bracket around the float
    `estimate`, widened while it does not straddle the crossing (the HF gap of ~1.4e-4 is a
    wider price gap when `asset` is a small part of the position); None when the pool's
    arithmetic does not cross 1 within a factor of two of the estimate."""
    width = CROSSING_BRACKET
    while True:
        low = max(math.floor(estimate * (1 - width) * PRICE_UNIT), 1)
        high = math.ceil(estimate * (1 + width) * PRICE_UNIT)
        if (_liquidatable(position, prices, asset, low) == liquidates_below
                and _liquidatable(position, prices, asset, high) != liquidates_below):
            break
        if width >= 1:
            return None
        width = min(width * CROSSING_WIDENING, 1.0)
    while high - low > 1:
        middle = (low + high) // 2
        if _liquidatable(position, prices, asset, middle) == liquidates_below:
            low = middle
        else:
            high = middle
    return (low if liquidates_below else high) / PRICE_UNIT


class AaveV3Arithmetic:
    """Aave V3's valuation for the arithmetic registry (monitor.risk.arithmetic)."""

    generic_distance = 1e-3  # its flooring of each leg: under 1.4e-4 (monitor.risk.valuation)

    def applies(self, position: LendingPosition) -> bool:
        """Every leg carries its raw amount and decimals."""
        return is_exact(position)

    def health_factor(self, position: LendingPosition, prices: Mapping[str, float]) -> float:
        """getUserAccountData's health factor (math.inf without debt)."""
        wad = account_data(position, prices).health_factor_wad
        return math.inf if wad is None else wad / WAD

    def values(self, position: LendingPosition,
               prices: Mapping[str, float]) -> tuple[float, float]:
        """getUserAccountData's collateral and debt, in USD."""
        data = account_data(position, prices)
        return data.total_collateral_base / PRICE_UNIT, data.total_debt_base / PRICE_UNIT

    def crossing_price(self, position: LendingPosition, asset: str,
                       prices: Mapping[str, float], estimate: float,
                       liquidates_below: bool) -> float | None:
        """Where the pool's own health factor crosses 1 (see crossing_price)."""
        return crossing_price(position, asset, prices, estimate, liquidates_below)


ARITHMETIC: Final = AaveV3Arithmetic()


def exact_liquidation_price(position: LendingPosition, asset: str, prices: Mapping[str, float],
                            side: str, guess: float) -> float:
    """The oracle price (a multiple of 1e-8 USD) nearest `guess` on `side` at which the pool's
    own health factor is below 1: the highest such price for "long", the lowest for "short".
    Bisection over integer oracle answers; used to measure the generic formula's gap."""

    def liquidatable(answer: int) -> bool:
        moved = {**prices, asset: answer / PRICE_UNIT}
        wad = account_data(position, moved).health_factor_wad
        return wad is not None and wad < WAD

    centre = max(1, round(guess * PRICE_UNIT))
    low, high = max(1, centre // 2), centre * 2  # long: low liquidatable, high not; short: mirrored
    while high - low > 1:
        mid = (low + high) // 2
        if liquidatable(mid) == (side == "long"):
            low = mid
        else:
            high = mid
    return (low if side == "long" else high) / PRICE_UNIT
