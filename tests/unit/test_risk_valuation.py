"""Hand-computed health factors and liquidation prices (README "Risk model")."""

from __future__ import annotations

import math
from typing import cast

import pytest

from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    LiquidationLevel,
    MissingPrice,
    PerpPosition,
    health_factor,
    liquidation_price,
    liquidation_prices,
    position_level,
    position_values,
)


def loan(collateral: list[tuple[str, float, float, float]], debt: list[tuple[str, float]],
         protocol: str = "spark") -> LendingPosition:
    """A lending position from (asset, amount, LT, bonus) and (asset, amount) tuples."""
    return LendingPosition("l", protocol, "0xa", tuple(CollateralLeg(*c) for c in collateral),
                           tuple(DebtLeg(*d) for d in debt))


def near(price: float) -> float:
    """pytest.approx as a LiquidationLevel's price, so the level compares equal within rel 1e-15."""
    return cast(float, pytest.approx(price, rel=1e-15))


def test_single_collateral() -> None:
    position = loan([("WETH", 10.0, 0.825, 0.05)], [("USDC", 15000.0)])
    prices = {"WETH": 3000.0, "USDC": 1.0}
    assert health_factor(position, prices) == pytest.approx(24750 / 15000, rel=1e-15)
    assert position_values(position, prices) == (30000.0, 15000.0)
    assert liquidation_prices(position, prices) == {
        "WETH": LiquidationLevel(near(15000 / 8.25), "long"),
        "USDC": LiquidationLevel(near(24750 / 15000), "short")}
    level = position_level(position, "WETH", prices)
    assert level is not None
    # at 1818.18: collateral 18181.82 covers 15000 × 1.05 = 15750 seized, i.e. 8.6625 WETH
    assert level.quantity == pytest.approx(15750 / (15000 / 8.25), rel=1e-12)
    assert level.value_usd == pytest.approx(15750, rel=1e-12)
    assert level.debt_usd == pytest.approx(15000, rel=1e-12)


def test_multi_collateral() -> None:
    position = loan([("WETH", 10.0, 0.8, 0.05), ("WBTC", 1.0, 0.7, 0.10)], [("USDC", 60000.0)])
    prices = {"WETH": 3000.0, "WBTC": 60000.0, "USDC": 1.0}
    assert health_factor(position, prices) == pytest.approx(66000 / 60000, rel=1e-15)
    levels = liquidation_prices(position, prices)
    assert levels["WETH"].price == pytest.approx((60000 - 42000) / 8, rel=1e-15)  # 2250
    assert levels["WBTC"].price == pytest.approx((60000 - 24000) / 0.7, rel=1e-15)
    assert levels["WETH"].side == levels["WBTC"].side == "long"
    level = position_level(position, "WETH", prices)
    assert level is not None
    # at WETH 2250: collateral 22500 + 60000, value-weighted bonus (1125 + 6000) / 82500
    seized = 60000 * (82500 + 7125) / 82500
    assert level.quantity == pytest.approx(seized * 10 / 82500, rel=1e-12)


def test_collateral_that_alone_covers_the_debt_never_liquidates_through_the_other() -> None:
    position = loan([("WETH", 10.0, 0.8, 0.05), ("WBTC", 1.0, 0.7, 0.10)], [("USDC", 40000.0)])
    prices = {"WETH": 3000.0, "WBTC": 60000.0, "USDC": 1.0}
    assert liquidation_price(position, "WETH", prices) is None


def test_looped_same_asset_on_both_sides() -> None:
    position = loan([("WETH", 10.0, 0.9, 0.05)], [("WETH", 7.0), ("USDC", 1000.0)])
    prices = {"WETH": 3000.0, "USDC": 1.0}
    assert health_factor(position, prices) == pytest.approx(27000 / 22000, rel=1e-15)
    # 9p = 7p + 1000 at p = 500; the USDC debt alone liquidates it above 6000 / 1000
    assert liquidation_prices(position, prices) == {
        "WETH": LiquidationLevel(near(500.0), "long"),
        "USDC": LiquidationLevel(near(6.0), "short")}
    level = position_level(position, "WETH", prices)
    assert level is not None
    assert level.quantity == pytest.approx(4725 * 10 / 5000, rel=1e-12)  # 4500 × 1.05 of 5000
    assert level.net_units == 3.0 and level.equity_base_usd == -1000.0


def test_fully_looped_position_has_no_price_to_liquidate_at() -> None:
    position = loan([("WETH", 10.0, 0.9, 0.05)], [("WETH", 8.0)])
    assert liquidation_prices(position, {"WETH": 3000.0}) == {}
    assert health_factor(position, {"WETH": 1.0}) == pytest.approx(9 / 8)


def test_no_debt() -> None:
    position = loan([("WETH", 1.0, 0.8, 0.0)], [])
    assert health_factor(position, {"WETH": 3000.0}) == math.inf
    assert liquidation_prices(position, {"WETH": 3000.0}) == {}


def test_perp_long_at_100_with_10x_and_2_5_percent_maintenance_liquidates_at_92_31() -> None:
    # Hyperliquid's example: 10x on a 20x-max market, maintenance = half of 1/20
    position = PerpPosition("h", "hyperliquid", "0xb", "ETH", 1.0, 100.0, 10.0, 0.025)
    level = liquidation_price(position, "ETH", {"ETH": 100.0})
    assert level is not None and level.side == "long"
    assert round(level.price, 2) == 92.31
    assert level.price == pytest.approx(90 / 0.975, rel=1e-15)
    assert health_factor(position, {"ETH": level.price}) == pytest.approx(1.0, rel=1e-12)
    assert health_factor(position, {"ETH": 100.0}) == pytest.approx(10 / 2.5)


def test_perp_short() -> None:
    position = PerpPosition("h", "hyperliquid", "0xb", "ETH", -2.0, 100.0, 20.0, 0.025)
    level = position_level(position, "ETH", {})
    assert level is not None and level.side == "short"
    assert level.price == pytest.approx(220 / 2.05, rel=1e-15)
    assert level.quantity == 2.0
    assert position_values(position, {"ETH": 100.0}) == (220.0, 200.0)
    assert health_factor(position, {"ETH": level.price}) == pytest.approx(1.0, rel=1e-12)


def test_a_missing_price_names_the_asset() -> None:
    position = loan([("WETH", 10.0, 0.825, 0.05)], [("USDC", 15000.0)])
    with pytest.raises(MissingPrice) as raised:
        health_factor(position, {"WETH": 3000.0})
    assert str(raised.value) == "USDC"
    assert isinstance(raised.value, KeyError)
    with pytest.raises(MissingPrice, match="USDC"):
        liquidation_price(position, "WETH", {"WETH": 3000.0})
    assert liquidation_price(position, "USDC", {"WETH": 3000.0}) is not None
