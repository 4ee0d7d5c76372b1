"""The served form of a joint projection reduces to the same figures as the projection itself,
so the truth test's errors of the worker's /stress/ answer are the risk core's."""

from __future__ import annotations

import orjson

from monitor.devnet.truth import ProjectedCascade
from monitor.risk import ContagionProjection
from monitor.stream.contagion.scenarios import Scenario, served

PROJECTION = ContagionProjection(
    shocked_asset="WETH", shock_price=2700.0,
    start_prices={"WETH": 3000.0, "WBTC": 48000.0, "USDC": 1.0},
    shocked_prices={"WETH": 2700.0, "WBTC": 48000.0, "USDC": 1.0},
    terminal_prices={"WETH": 2500.0, "WBTC": 46000.0, "USDC": 1.02},
    net_sold={"WETH": 300.0, "USDC": -1e6}, liquidated_usd=1.75e6,
    direct_usd_by_protocol={"aave-v3": 1e6},
    induced_usd_by_protocol={"aave-v3": 5e5, "morpho-blue": 2.5e5},
    rounds=4, bad_debt_usd=3e4, bad_debt_usd_by_protocol={"aave-v3": 3e4})


def test_the_served_projection_gives_the_figures_of_the_projection() -> None:
    scenario = Scenario("stress:weth-pool-10", "stress", "weth-pool-10", "WETH", 2700.0, {})
    body = orjson.loads(orjson.dumps(served(PROJECTION, scenario, 4, 0.0, {})))
    assert ProjectedCascade.from_served(body) == ProjectedCascade.from_contagion(PROJECTION)
    assert ProjectedCascade.from_served(body).liquidated_usd == {"aave-v3": 1.5e6,
                                                                 "morpho-blue": 2.5e5}
