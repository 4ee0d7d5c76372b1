"""Morpho Blue's own integer arithmetic (Morpho.sol's _isHealthy, _accrueInterest and liquidate,
with SharesMathLib and MathLib), so that the health factor served for a Morpho position is
collateral·price/1e36·lltv / borrowed rounded as the contract rounds it, and the liquidation
price served is where the contract starts allowing `liquidate`.

A Morpho market is isolated: one collateral, one loan asset and one oracle whose price() quotes
the collateral in loan-token base units, scaled 1e36. A position is healthy while
floor(floor(collateral × price / 1e36) × lltv / 1e18) ≥ borrowed, borrowed being its borrow
shares in assets rounded up. The oracle reaches the risk core as the position's market price
(LendingPosition.market_price: loan-asset units per collateral unit, a float whose 1.1e-16
relative precision is all that separates the integer rebuilt here from the oracle's).

Liquidation price: healthiness grows with the oracle price, so the highest liquidatable oracle
price has a closed form (highest_liquidatable_price). The oracle quotes the ratio of the two
assets' USD prices, so a USD price p of the collateral maps to the oracle in proportion (p*/p =
P*/P; P/P* for the loan asset). The generic formula's p* = debt·p_loan / (collateral·lltv) misses
the exact one by the two floors (below 1/borrowed + 1/(collateral value in loan base units),
relative) plus however far the oracle is from the ratio of the USD prices the book uses (nothing
on the devnet, whose oracles follow its USD feeds).

Liquidation: LIF = min(1.15, 1 / (1 − 0.3 × (1 − lltv))); a liquidator may repay every share
(no close factor); once the collateral is gone the rest of the debt is bad debt, so a liquidation
taking all the collateral recovers collateral / LIF of the debt (recovery).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

from monitor.risk.positions import CollateralLeg, DebtLeg, LendingPosition, MissingPrice

PROTOCOL: Final = "morpho-blue"
WAD: Final = 10**18
ORACLE_PRICE_SCALE: Final = 10**36
VIRTUAL_SHARES: Final = 10**6
VIRTUAL_ASSETS: Final = 1
LIQUIDATION_CURSOR: Final = 3 * 10**17
MAX_LIQUIDATION_INCENTIVE_FACTOR: Final = 115 * 10**16


def mul_div_down(x: int, y: int, d: int) -> int:
    """MathLib.mulDivDown: x × y / d rounded down."""
    return x * y // d


def mul_div_up(x: int, y: int, d: int) -> int:
    """MathLib.mulDivUp: x × y / d rounded up."""
    return (x * y + d - 1) // d


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsUp (virtual shares and assets included)."""
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toAssetsDown."""
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    """SharesMathLib.toSharesUp."""
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def w_taylor_compounded(rate: int, elapsed: int) -> int:
    """MathLib.wTaylorCompounded: e^(rate·elapsed) − 1 to three terms, in wad."""
    first = rate * elapsed
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return first + second + third


def accrued_interest(total_borrow_assets: int, rate: int, elapsed: int) -> int:
    """The interest _accrueInterest adds to a market's borrow (and supply) assets after
    `elapsed` seconds at the IRM's per-second `rate` (wad)."""
    return mul_div_down(total_borrow_assets, w_taylor_compounded(rate, elapsed), WAD)


def liquidation_incentive_factor(lltv: int) -> int:
    """min(1.15, 1 / (1 − 0.3 × (1 − lltv))) in wad, rounded as liquidate() rounds it."""
    cursor = mul_div_down(LIQUIDATION_CURSOR, WAD - lltv, WAD)
    return min(MAX_LIQUIDATION_INCENTIVE_FACTOR, mul_div_down(WAD, WAD, WAD - cursor))


def lltv_wad(fraction: float) -> int:
    """The wad LLTV a snapshot's liquidation threshold stands for: the shortest decimal that
    round-trips the float, so every LLTV of fifteen significant digits or fewer (Morpho
    enables round ones: 0.86, 0.915, 0.945...) comes back exactly."""
    return int(Decimal(repr(fraction)).scaleb(18).to_integral_value())


def max_borrow(collateral: int, price: int, lltv: int) -> int:
    """What the collateral may borrow at the oracle price (_isHealthy's maxBorrow)."""
    return mul_div_down(mul_div_down(collateral, price, ORACLE_PRICE_SCALE), lltv, WAD)


def highest_liquidatable_price(collateral: int, borrowed: int, lltv: int) -> int | None:
    """The highest oracle price at which the position is unhealthy: max P with
    floor(floor(C·P/1e36)·lltv/1e18) < B, i.e. ceil(ceil(B·1e18/lltv)·1e36/C) − 1. None when
    no positive price is liquidatable (no debt) or every price is (no collateral)."""
    if borrowed <= 0 or collateral <= 0:
        return None
    quoted = -(-borrowed * WAD // lltv)  # the least collateral value (loan units) that is healthy
    price = -(-quoted * ORACLE_PRICE_SCALE // collateral) - 1
    return price if price >= 1 else None


def price_exponent(collateral_decimals: int, loan_decimals: int) -> int:
    """Powers of ten between the oracle's integer and loan-asset units per collateral unit."""
    return 36 + loan_decimals - collateral_decimals


def quoted_price(oracle_price: int, collateral_decimals: int, loan_decimals: int) -> float:
    """The oracle's price as loan-asset units per collateral unit: a market price's wire value."""
    return float(Fraction(oracle_price) / Fraction(10) ** price_exponent(collateral_decimals,
                                                                         loan_decimals))


def oracle_price(quoted: float, collateral_decimals: int, loan_decimals: int) -> int:
    """The oracle's integer price behind a market price published by quoted_price."""
    return round(Fraction(quoted) * Fraction(10) ** price_exponent(collateral_decimals,
                                                                   loan_decimals))


@dataclass(frozen=True, slots=True)
class Loan:
    """A Morpho position as the contract holds it: collateral and borrowed assets (base units),
    the market's lltv (wad) and its oracle's price now."""

    collateral_asset: str
    loan_asset: str
    collateral: int
    borrowed: int
    loan_decimals: int
    lltv: int
    price: int


def is_exact(position: LendingPosition) -> bool:
    """True for a Morpho position with its market price and one exact collateral and debt leg."""
    legs: list[CollateralLeg | DebtLeg] = [*position.collateral, *position.debt]
    return (position.protocol == PROTOCOL and position.market_price is not None
            and len(position.collateral) == 1 and len(position.debt) == 1
            and all(leg.amount_raw is not None and leg.decimals is not None for leg in legs))


def loan(position: LendingPosition, prices: Mapping[str, float]) -> Loan:
    """The integers of a position that is_exact, at the market price in `prices`."""
    (leg,), (debt,) = position.collateral, position.debt
    key = position.market_price
    assert key is not None and leg.amount_raw is not None and leg.decimals is not None
    assert debt.amount_raw is not None and debt.decimals is not None
    if key not in prices:
        raise MissingPrice(key)
    return Loan(leg.asset, debt.asset, leg.amount_raw, debt.amount_raw, debt.decimals,
                lltv_wad(leg.liquidation_threshold),
                oracle_price(prices[key], leg.decimals, debt.decimals))


def _usd(prices: Mapping[str, float], asset: str) -> float:
    """An asset's USD price, or MissingPrice naming it."""
    if asset not in prices:
        raise MissingPrice(asset)
    return prices[asset]


def crossing_price(position: LendingPosition, asset: str, prices: Mapping[str, float],
                   liquidates_below: bool) -> float | None:
    """The USD price of `asset` (other prices fixed) where `liquidate` starts being allowed:
    the highest for the collateral, the lowest for the loan asset, the oracle moving in
    proportion to the collateral's USD price and inversely to the loan asset's."""
    state = loan(position, prices)
    star = highest_liquidatable_price(state.collateral, state.borrowed, state.lltv)
    if star is None or state.price <= 0 or state.collateral_asset == state.loan_asset:
        return None
    if asset == state.collateral_asset and liquidates_below:
        return float(Fraction(_usd(prices, asset)) * star / state.price)
    if asset == state.loan_asset and not liquidates_below:
        return float(Fraction(_usd(prices, asset)) * state.price / star)
    return None


class MorphoBlueArithmetic:
    """Morpho Blue's valuation for the arithmetic registry (monitor.risk.arithmetic)."""

    generic_distance = 1e-3  # floors, plus the oracle's distance from the legs' price ratio

    def applies(self, position: LendingPosition) -> bool:
        """One exact collateral and debt leg, and the market price to value them at."""
        return is_exact(position)

    def health_factor(self, position: LendingPosition, prices: Mapping[str, float]) -> float:
        """maxBorrow / borrowed as _isHealthy computes them (below 1: liquidatable)."""
        state = loan(position, prices)
        if state.borrowed == 0:
            return math.inf
        return max_borrow(state.collateral, state.price, state.lltv) / state.borrowed

    def values(self, position: LendingPosition,
               prices: Mapping[str, float]) -> tuple[float, float]:
        """Collateral at the market's oracle and borrowed assets, both in loan units, in USD."""
        state = loan(position, prices)
        unit = _usd(prices, state.loan_asset) / 10**state.loan_decimals
        quoted = mul_div_down(state.collateral, state.price, ORACLE_PRICE_SCALE)
        return quoted * unit, state.borrowed * unit

    def crossing_price(self, position: LendingPosition, asset: str,
                       prices: Mapping[str, float], estimate: float,
                       liquidates_below: bool) -> float | None:
        """Where `liquidate` starts being allowed (closed form: `estimate` is not needed)."""
        return crossing_price(position, asset, prices, liquidates_below)


ARITHMETIC: Final = MorphoBlueArithmetic()


def recovery(position: LendingPosition) -> float:
    """The share of its collateral's value a liquidation taking all of it repays: 1 / LIF (the
    liquidator keeps the incentive; the rest of the debt is booked as bad debt). A Morpho
    position has one collateral leg; anything else counts its collateral whole."""
    if len(position.collateral) != 1:
        return 1.0
    return 1.0 / (1.0 + position.collateral[0].liquidation_bonus)
