"""Morpho Blue's own arithmetic by hand (rounding directions, LIF, interest), the liquidation
price where the contract's health check flips, the generic formula's measured gap to it, and
Morpho's bad-debt rule in levels, cascades and contagion."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.risk import (
    CollateralLeg,
    ContagionModel,
    DebtLeg,
    LendingPosition,
    PowerLawDepth,
    health_factor,
    liquidation_price,
    position_level,
    position_values,
    project_cascade,
    project_contagion,
)
from monitor.risk.morpho_blue import (
    WAD,
    accrued_interest,
    highest_liquidatable_price,
    liquidation_incentive_factor,
    lltv_wad,
    max_borrow,
    oracle_price,
    quoted_price,
    to_assets_down,
    to_assets_up,
    w_taylor_compounded,
)

KEY = "morpho-blue:1:0xm"
DECIMALS = {"WETH": 18, "WBTC": 8, "USDC": 6}


def morpho(collateral: tuple[str, int], borrowed: int, lltv: float = 0.86,
           loan: str = "USDC") -> LendingPosition:
    """A Morpho position: raw collateral of one asset against raw borrowed assets."""
    asset, raw = collateral
    bonus = liquidation_incentive_factor(lltv_wad(lltv)) / WAD - 1
    return LendingPosition(
        "morpho-blue:1:0xm:0xa", "morpho-blue", "0xa",
        (CollateralLeg(asset, raw / 10 ** DECIMALS[asset], lltv, bonus, raw, DECIMALS[asset]),),
        (DebtLeg(loan, borrowed / 10 ** DECIMALS[loan], borrowed, DECIMALS[loan]),),
        market_price=KEY)


def test_health_by_hand_rounds_as_the_contract() -> None:
    # 1.5 WETH at an oracle of 3000.5 USDC/WETH: 1.5e18 × 3000.5e24 / 1e36 = 4500.75e6 exactly;
    # × 0.86 = 3870.645e6; a debt of 3870645001 base units is one too many.
    price = 3_000_500_000_000_000_000_000_000_000
    assert quoted_price(price, 18, 6) == 3000.5 and oracle_price(3000.5, 18, 6) == price
    assert max_borrow(15 * 10**17, price, 86 * 10**16) == 3_870_645_000
    healthy, unhealthy = morpho(("WETH", 15 * 10**17), 3_870_645_000), \
        morpho(("WETH", 15 * 10**17), 3_870_645_001)
    prices = {KEY: 3000.5, "WETH": 3000.5, "USDC": 1.0}
    assert health_factor(healthy, prices) == 1.0
    assert health_factor(unhealthy, prices) == 3_870_645_000 / 3_870_645_001 < 1.0
    assert position_values(healthy, prices) == (4500.75, 3870.645)
    # one wei less collateral floors the quoted value (4500.749999…e6 → 4500749999) and its
    # lltv share (3870644999.14 → 3870644999): the same debt is now liquidatable
    short = morpho(("WETH", 15 * 10**17 - 1), 3_870_645_000)
    assert max_borrow(15 * 10**17 - 1, price, 86 * 10**16) == 3_870_644_999
    assert health_factor(short, prices) == 3_870_644_999 / 3_870_645_000 < 1.0


def test_borrowed_assets_round_up_from_shares_with_virtual_shares() -> None:
    # 1e6 of 1e12 shares of 2e6 assets: 1e6 × (2e6 + 1) / (1e12 + 1e6) = 1.999999 assets
    assert to_assets_up(10**6, 2 * 10**6, 10**12) == 2
    assert to_assets_down(10**6, 2 * 10**6, 10**12) == 1
    assert to_assets_up(1000, 2, 10**6) == 1  # 1000 × 3 / 2e6 = 0.0015, up
    assert to_assets_up(0, 10**9, 10**15) == 0


def test_interest_is_three_taylor_terms_floored() -> None:
    rate = 10**18 // (365 * 24 * 3600)  # 100 % a year, per second, floored: 31709791983
    first = rate * 3600
    second = first * first // (2 * WAD)
    third = second * first // (3 * WAD)
    assert w_taylor_compounded(rate, 3600) == first + second + third
    assert accrued_interest(10**12, rate, 3600) == 10**12 * (first + second + third) // WAD
    assert accrued_interest(10**12, rate, 0) == 0


@pytest.mark.parametrize(("lltv", "lif"), [
    (0.86, 1_043_841_336_116_910_229),  # 1 / (1 − 0.3 × 0.14) = 1 / 0.958, floored
    (0.77, 1_074_113_856_068_743_286),  # 1 / 0.931
    (0.945, 1_016_776_817_488_561_260),  # 1 / 0.9835
    (0.385, 1_150_000_000_000_000_000),  # 1 / 0.8155 = 1.226…: capped at 1.15
])
def test_liquidation_incentive_factor(lltv: float, lif: int) -> None:
    assert lltv_wad(lltv) == round(lltv * 1000) * 10**15
    assert liquidation_incentive_factor(lltv_wad(lltv)) == lif


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**24), st.integers(1, 10**15), st.sampled_from([0.77, 0.86, 0.945]))
def test_highest_liquidatable_price_is_where_the_health_check_flips(
        collateral: int, borrowed: int, lltv: float) -> None:
    star = highest_liquidatable_price(collateral, borrowed, lltv_wad(lltv))
    assume(star is not None)
    assert star is not None
    assert max_borrow(collateral, star, lltv_wad(lltv)) < borrowed
    assert max_borrow(collateral, star + 1, lltv_wad(lltv)) >= borrowed


def test_no_debt_never_crosses_and_no_collateral_always_has() -> None:
    assert highest_liquidatable_price(10**18, 0, WAD // 2) is None
    assert highest_liquidatable_price(0, 10**6, WAD // 2) is None


def test_served_prices_are_the_oracle_crossing_in_usd() -> None:
    position = morpho(("WETH", 2 * 10**18), 4_000 * 10**6)
    prices = {KEY: 2999.0, "WETH": 3000.0, "USDC": 1.0}  # the oracle 1/3000 below the feeds
    star = highest_liquidatable_price(2 * 10**18, 4_000 * 10**6, lltv_wad(0.86))
    assert star is not None
    long = liquidation_price(position, "WETH", prices)
    assert long is not None and long.side == "long"
    assert long.price == pytest.approx(3000.0 * star / oracle_price(2999.0, 18, 6), rel=1e-15)
    short = liquidation_price(position, "USDC", prices)
    assert short is not None and short.side == "short"
    assert short.price == pytest.approx(oracle_price(2999.0, 18, 6) / star, rel=1e-15)
    generic = position_level(position, "WETH", prices)
    assert generic is not None
    assert long.price / generic.price == pytest.approx(3000 / 2999, rel=1e-9)  # the oracle gap


def test_without_its_market_price_a_position_names_it_missing() -> None:
    position = morpho(("WETH", 10**18), 10**9)
    with pytest.raises(KeyError, match=KEY):
        health_factor(position, {"WETH": 3000.0, "USDC": 1.0})
    floats = LendingPosition("m", "morpho-blue", "0xa", (CollateralLeg("WETH", 1.0, 0.86),),
                             (DebtLeg("USDC", 1000.0),))
    assert health_factor(floats, {"WETH": 3000.0, "USDC": 1.0}) == pytest.approx(2.58)


@settings(max_examples=100, deadline=None)
@given(st.integers(10**15, 10**22), st.floats(1.0005, 3.0), st.sampled_from([0.77, 0.86]),
       st.floats(100.0, 100_000.0), st.sampled_from(["WETH", "WBTC"]))
def test_generic_liquidation_price_gap_to_the_contract(
        raw: int, cushion: float, lltv: float, usd: float, asset: str) -> None:
    """With the oracle quoting the USD ratio, the generic p* misses the contract's crossing by
    the two floors only: below 1/borrowed + 1/(collateral value in loan base units)."""
    collateral = raw // 10 ** (18 - DECIMALS[asset])
    value = collateral * usd / 10 ** DECIMALS[asset]
    borrowed = int(value * lltv / cushion * 1e6)
    assume(borrowed > 0 and collateral > 0)
    position = morpho((asset, collateral), borrowed, lltv)
    prices = {KEY: usd, asset: usd, "USDC": 1.0}
    exact, generic = liquidation_price(position, asset, prices), \
        position_level(position, asset, prices)
    assert exact is not None and generic is not None
    bound = 1 / borrowed + 1 / (value * 1e6 / cushion) + 1e-15
    assert abs(exact.price / generic.price - 1) <= bound


def test_a_morpho_level_books_bad_debt_net_of_the_incentive() -> None:
    position = morpho(("WETH", 10**18), 2_500 * 10**6)  # LIF 1.0438…: LT 0.86 at 2906.98
    prices = {KEY: 3000.0, "WETH": 3000.0, "USDC": 1.0}
    level = position_level(position, "WETH", prices)
    assert level is not None and level.side == "long"
    lif = liquidation_incentive_factor(lltv_wad(0.86)) / WAD
    assert level.net_units == pytest.approx(1 / lif) and level.equity_base_usd == -2500.0
    assert level.quantity == pytest.approx(2500.0 * lif / level.price)  # seized per LIF
    crash = project_cascade([position], "WETH", prices, 2000.0, PowerLawDepth(1e12))
    assert crash.liquidated_usd == pytest.approx(2500.0 * lif)
    # at 2000 the contract takes the whole ether, repays 2000 / LIF and books the rest as bad debt
    assert crash.bad_debt_usd == pytest.approx(2500.0 - 2000.0 / lif, rel=1e-9)
    generic = LendingPosition("g", "compound-v3", "0xa", position.collateral, position.debt)
    assert project_cascade([generic], "WETH", prices, 2000.0,
                           PowerLawDepth(1e12)).bad_debt_usd == pytest.approx(500.0)


def test_contagion_moves_the_market_price_with_its_assets() -> None:
    position = morpho(("WETH", 10**18), 2_500 * 10**6)
    prices = {KEY: 3000.0, "WETH": 3000.0, "USDC": 1.0}
    model = ContagionModel()
    calm = project_contagion([position], "WETH", prices, 2950.0, model)
    assert calm.rounds == 0 and calm.shocked_prices[KEY] == pytest.approx(2950.0)
    crash = project_contagion([position], "WETH", prices, 2000.0, model)
    lif = liquidation_incentive_factor(lltv_wad(0.86)) / WAD
    assert crash.rounds == 1 and crash.terminal_prices[KEY] == pytest.approx(2000.0)
    assert crash.direct_usd_by_protocol == {"morpho-blue": pytest.approx(2000.0)}  # all of it
    assert crash.bad_debt_usd == pytest.approx(2500.0 - 2000.0 / lif, rel=1e-9)
    assert math.isinf(health_factor(LendingPosition(
        "x", "morpho-blue", "0xa", position.collateral, (), market_price=KEY), prices))
