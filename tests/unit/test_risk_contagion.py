"""A hand-computed contagion: an ETH shock, BTC following with beta 0.5, two protocols."""

from __future__ import annotations

import pytest

from monitor.risk import (
    CollateralLeg,
    ContagionModel,
    DebtLeg,
    LendingPosition,
    PowerLawDepth,
    project_contagion,
)


def loan(pid: str, protocol: str, collateral: list[tuple[str, float, float]],
         debt: float) -> LendingPosition:
    """A USDC loan against (asset, amount, LT) collateral, no liquidation bonus."""
    return LendingPosition(pid, protocol, "0xa",
                           tuple(CollateralLeg(a, x, lt) for a, x, lt in collateral),
                           (DebtLeg("USDC", debt),))


def test_two_assets_two_protocols() -> None:
    book = [loan("a", "lend-a", [("ETH", 10.0, 0.8)], 13_000.0),
            loan("b", "lend-b", [("ETH", 5.0, 0.8), ("BTC", 1.0, 0.8)], 35_100.0),
            loan("c", "lend-a", [("BTC", 1.0, 0.75)], 26_995.0)]
    prices = {"ETH": 2000.0, "BTC": 40_000.0, "USDC": 1.0}
    model = ContagionModel(betas={"ETH": {"BTC": 0.5}},
                           depths={"ETH": PowerLawDepth(16_250.0),
                                   "BTC": PowerLawDepth(1_600_000.0)})
    result = project_contagion(book, "ETH", prices, 1600.0, model)
    # −20 % on ETH moves BTC −10 % to 36,000. Round 1: a (12,800 < 13,000) seizes 13,000 of
    # 16,000 → sells 8.125 ETH: ETH = 1600 × (1 − 0.02 × 8.125 × 2000 / 16,250) = 1568.
    # Round 2: b at 0.8 × (7840 + 36,000) = 35,072 < 35,100 seizes 35,100 of 43,840 pro rata:
    # 4.0032 ETH and 0.80064 BTC; BTC = 36,000 × (1 − 0.02 × 0.80064 × 40,000 / 1.6e6).
    eth_b, btc_b = 35_100 * 5 / 43_840, 35_100 / 43_840
    btc_2 = 36_000 * (1 - 0.02 * btc_b * 40_000 / 1.6e6)
    # Round 3: c at 0.75 × 35,985.6 = 26,989.2 < 26,995 seizes 26,995 → sells 26,995 / btc_2.
    btc_c = 26_995 / btc_2
    assert result.shocked_prices == {"ETH": 1600.0, "BTC": 36_000.0, "USDC": 1.0}
    assert result.rounds == 3
    assert result.direct_usd_by_protocol == {"lend-a": pytest.approx(13_000.0)}
    assert result.induced_usd_by_protocol == {"lend-b": pytest.approx(35_100.0),
                                              "lend-a": pytest.approx(26_995.0)}
    assert result.liquidated_usd_by_protocol() == {
        "lend-a": {"direct": pytest.approx(13_000.0), "induced": pytest.approx(26_995.0)},
        "lend-b": {"direct": 0.0, "induced": pytest.approx(35_100.0)}}
    assert result.terminal_prices["ETH"] == pytest.approx(
        1600 * (1 - 0.02 * (8.125 + eth_b) * 2000 / 16_250))
    assert result.terminal_prices["BTC"] == pytest.approx(
        36_000 * (1 - 0.02 * (btc_b + btc_c) * 40_000 / 1.6e6))
    assert result.net_sold["USDC"] == pytest.approx(-(13_000 + 35_100 + 26_995))
    assert result.terminal_prices["USDC"] == 1.0 and result.bad_debt_usd == 0.0
    assert result.liquidated_usd == pytest.approx(13_000 + 35_100 + 26_995)


def test_a_staking_token_follows_with_beta_one() -> None:
    book = [loan("s", "lend-a", [("wstETH", 10.0, 0.8)], 17_000.0)]
    model = ContagionModel(betas={"ETH": {"wstETH": 1.0}})
    result = project_contagion(book, "ETH", {"ETH": 2000.0, "wstETH": 2300.0, "USDC": 1.0},
                               1800.0, model)
    assert result.shocked_prices["wstETH"] == pytest.approx(2070.0)  # 0.8 × 20,700 < 17,000
    assert result.direct_usd_by_protocol == {"lend-a": pytest.approx(17_000.0)}
