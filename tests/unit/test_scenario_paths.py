"""Price paths: crash shapes pinned to the historical days, correlated assets following ETH."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.scenario.assets import start_prices
from monitor.scenario.paths import price_path


@pytest.mark.parametrize("steps", [50, 288, 1441])
@pytest.mark.parametrize("seed", [0, 9])
def test_2020_03_12_has_the_days_open_low_and_close(steps: int, seed: int) -> None:
    path = price_path("crash-2020-03-12", {"WETH": 194.74}, steps, seed)
    eth = np.array([p["WETH"] for p in path])
    assert len(path) == steps
    assert eth[0] == 194.74
    assert eth.min() / eth[0] == pytest.approx(111.21 / 194.74, rel=1e-12)
    assert eth[-1] == pytest.approx(112.35, rel=1e-12)
    assert eth.argmin() > steps // 2


def test_crash_scales_to_any_start_price() -> None:
    eth = [p["WETH"] for p in price_path("crash-2020-03-12", {"WETH": 3000.0}, 100)]
    assert min(eth) == pytest.approx(3000.0 * 111.21 / 194.74)


def test_2021_05_19_drops_about_44_percent_and_rebounds() -> None:
    eth = np.array([p["WETH"] for p in price_path("crash-2021-05-19", {"WETH": 3380.0}, 200)])
    assert eth.min() == pytest.approx(1900.0)
    assert eth[-1] == pytest.approx(2440.0)
    assert eth[eth.argmin():].max() > eth[-1]


@pytest.mark.parametrize("name", ["crash-2020-03-12", "crash-2021-05-19", "random-walk"])
def test_other_assets_follow_eth_by_beta(name: str) -> None:
    path = price_path(name, start_prices(), 200, seed=3)
    eth = np.array([p["WETH"] for p in path])
    ratio = np.array([p["wstETH"] / p["WETH"] for p in path])
    btc_move = np.log(np.array([p["WBTC"] for p in path]) / path[0]["WBTC"])
    eth_move = np.log(eth / eth[0])
    assert np.all(np.abs(ratio / 1.17 - 1) < 0.01)
    assert np.corrcoef(np.diff(btc_move), np.diff(eth_move))[0, 1] > 0.5
    assert [p["ETH"] for p in path] == list(eth)
    assert {p["USDC"] for p in path} == {1.0}
    assert path[0] == start_prices()


def test_random_walk_is_deterministic_by_seed() -> None:
    start = {"WETH": 3000.0, "SOL": 150.0}
    assert price_path("random-walk", start, 30, seed=1) == price_path("random-walk", start, 30, 1)
    assert price_path("random-walk", start, 30, seed=1) != price_path("random-walk", start, 30, 2)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown price path"):
        price_path("crash-1929", {"WETH": 1.0}, 10)
    with pytest.raises(ValueError, match="at least 2 steps"):
        price_path("random-walk", {"WETH": 1.0}, 1)
    with pytest.raises(ValueError, match="positive and finite"):
        price_path("random-walk", {"WETH": float("nan")}, 10)
