"""Aave V3's own arithmetic, and the generic liquidation price's measured gap to it."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    health_factor,
    liquidation_price,
    position_values,
)
from monitor.risk.aave_v3 import account_data, exact_liquidation_price

DECIMALS = {"WETH": 18, "WBTC": 8, "USDC": 6}


def aave(collateral: list[tuple[str, int, int]], debt: list[tuple[str, int]]) -> LendingPosition:
    """An Aave V3 position from (asset, raw amount, LT bps) and (asset, raw amount)."""
    return LendingPosition(
        "aave-v3:1:0xa", "aave-v3", "0xa",
        tuple(CollateralLeg(a, raw / 10 ** DECIMALS[a], bps / 1e4, 0.05, raw, DECIMALS[a])
              for a, raw, bps in collateral),
        tuple(DebtLeg(a, raw / 10 ** DECIMALS[a], raw, DECIMALS[a]) for a, raw in debt))


def test_two_collaterals_by_hand() -> None:
    position = aave([("WETH", 1_500_000_000_000_000_001, 8250), ("WBTC", 12_345_678, 7000)],
                    [("USDC", 5_000_123_456)])
    prices = {"WETH": 3000.12345678, "WBTC": 60000.5, "USDC": 1.0001}
    # base values, floored: 1.500000000000000001 × 300012345678 → 450018518517 (…517.0000…3)
    weth = 450_018_518_517
    wbtc = 12_345_678 * 6_000_050_000_000 // 10**8  # 740746852839
    debt = 5_000_123_456 * 100_010_000 // 10**6  # 500062347575
    avg_lt = (weth * 8250 + wbtc * 7000) // (weth + wbtc)  # truncated to whole bps
    assert avg_lt == 7472
    hf_wad = ((weth + wbtc) * 7472 + 5000) // 10_000 * 10**18 + debt // 2
    data = account_data(position, prices)
    assert (data.total_collateral_base, data.total_debt_base) == (weth + wbtc, debt)
    assert data.health_factor_wad == hf_wad // debt
    assert health_factor(position, prices) == (hf_wad // debt) / 1e18
    assert position_values(position, prices) == ((weth + wbtc) / 1e8, debt / 1e8)
    generic = (weth * 0.825 + wbtc * 0.7) / debt
    assert abs(health_factor(position, prices) - generic) > 1e-6  # the truncated LT shows


def test_without_debt_the_pool_answers_max() -> None:
    position = aave([("WETH", 10**18, 8250)], [])
    assert health_factor(position, {"WETH": 3000.0}) == float("inf")


def test_float_amounts_fall_back_to_the_generic_formula() -> None:
    position = LendingPosition("a", "aave-v3", "0xa", (CollateralLeg("WETH", 1.0, 0.8),),
                               (DebtLeg("USDC", 1000.0),))
    assert health_factor(position, {"WETH": 3000.0, "USDC": 1.0}) == 2.4


@settings(max_examples=80, deadline=None)
@given(st.integers(10**15, 10**21), st.integers(10**4, 10**9), st.integers(10**6, 10**12),
       st.integers(5000, 9500), st.integers(5000, 9500), st.booleans())
def test_generic_liquidation_price_gap_to_the_pool_arithmetic(
        weth: int, wbtc: int, usdc: int, lt_weth: int, lt_wbtc: int, two: bool) -> None:
    """The pool's HF differs from the generic one by < 1 bp of LT over avgLT (truncation) plus
    1e-8 USD per floored value; at the liquidation price that moves the price by the HF gap
    times (weighted collateral / its WETH part). Measured: within 1.2 × that bound."""
    legs = [("WETH", weth, lt_weth)] + ([("WBTC", wbtc, lt_wbtc)] if two else [])
    position = aave(legs, [("USDC", usdc)])
    prices = {"WETH": 3000.0, "WBTC": 60000.0, "USDC": 1.0}
    level = liquidation_price(position, "WETH", prices)
    assume(level is not None and level.price > 1e-4)
    assert level is not None
    exact = exact_liquidation_price(position, "WETH", prices, level.side, level.price)
    at = {**prices, "WETH": level.price}
    collateral, weighted = position_values(position, at)[0], usdc / 1e6  # HF = 1 at p*
    weighted_weth = weth / 1e18 * lt_weth / 1e4 * level.price
    hf_gap = (1e-4 / (weighted / collateral) if two else 0.0) + 3e-8 / weighted
    bound = 1.2 * hf_gap * weighted / weighted_weth + 2e-8 / level.price
    assert abs(exact - level.price) / level.price <= bound
