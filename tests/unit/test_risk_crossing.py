"""The liquidation price served for an Aave V3 position is where the pool's own integer health
factor crosses 1, not the float formula's p* (which misses it by up to ~1.4e-4 in HF)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import LendingPosition, from_snapshot, liquidation_price, position_level
from monitor.risk.aave_v3 import PRICE_UNIT, WAD, account_data

PRICES = {"WETH": 3000.0, "WBTC": 60000.0, "LINK": 15.0, "USDC": 1.0}
LEGS = {"WETH": (18, 0.825, 0.05), "WBTC": (8, 0.75, 0.065), "LINK": (18, 0.65, 0.075)}


def position(usd: dict[str, float], debt_usd: float) -> LendingPosition:
    """An exact Aave V3 position holding `usd` of each collateral against USDC debt."""
    collateral = [{"asset": a, "amount": f"{v / PRICES[a]:.{LEGS[a][0]}f}", "decimals": LEGS[a][0],
                   "liquidation_threshold": LEGS[a][1], "liquidation_bonus": LEGS[a][2]}
                  for a, v in usd.items()]
    snapshot = {"position_id": "aave-v3:1:0x1", "protocol": "aave-v3", "account": "0x1",
                "kind": "lending", "collateral": collateral,
                "debt": [{"asset": "USDC", "amount": f"{debt_usd:.6f}", "decimals": 6}],
                "version": [1, 0]}
    parsed = from_snapshot(snapshot)
    assert isinstance(parsed, LendingPosition)
    return parsed


def pool_hf(p: LendingPosition, asset: str, answer: int) -> int:
    """The pool's health factor (wad) with `asset` at an integer oracle answer."""
    wad = account_data(p, {**PRICES, asset: answer / PRICE_UNIT}).health_factor_wad
    assert wad is not None
    return wad


@settings(max_examples=60, deadline=None)
@given(weth=st.floats(200, 200_000), shares=st.lists(st.floats(0, 5), min_size=2, max_size=2),
       cushion=st.floats(0.001, 0.9))
def test_served_long_price_is_the_pools_crossing(weth: float, shares: list[float],
                                                 cushion: float) -> None:
    usd = {"WETH": weth, "WBTC": weth * shares[0], "LINK": weth * shares[1]}
    weighted = sum(v * LEGS[a][1] for a, v in usd.items())
    p = position(usd, weighted - cushion * weth * LEGS["WETH"][1])  # WETH can cover the cushion
    level = liquidation_price(p, "WETH", PRICES)
    assert level is not None and level.side == "long"
    answer = round(level.price * PRICE_UNIT)
    assert pool_hf(p, "WETH", answer) < WAD <= pool_hf(p, "WETH", answer + 1)


def test_a_small_collateral_share_still_finds_the_crossing() -> None:
    p = position({"WETH": 2_000.0, "WBTC": 66_000.0, "LINK": 30_000.0}, 70_298.5)
    level = liquidation_price(p, "WETH", PRICES)
    generic = position_level(p, "WETH", PRICES)
    assert level is not None and generic is not None
    assert abs(level.price / generic.price - 1) > 1e-3  # the float p* misses by more than 0.1 %
    answer = round(level.price * PRICE_UNIT)
    assert pool_hf(p, "WETH", answer) < WAD <= pool_hf(p, "WETH", answer + 1)
