"""The shipped devnet model fits the devnet's seeded book: WETH and WBTC cascade triggers exist a
few % below the start prices for the book sizes `monitor run` and its tests seed, while the
mainnet default's depth swallows that book (the null projections the devnet model is for)."""

from __future__ import annotations

from importlib import resources

import pytest

from monitor.config import Settings, load_settings
from monitor.devnet.aave_deploy import ETH_EMODE, RESERVES
from monitor.devnet.position_plans import PositionPlan, plan_positions
from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    build_clusters,
    find_cascade_trigger,
)

PARAMS = {r.symbol: r for r in RESERVES}
PRICES = {r.symbol: r.price for r in RESERVES}


def position(plan: PositionPlan) -> LendingPosition:
    """The risk core's view of a seeded position, with the parameters it is deployed with."""
    def leg(asset: str, units: int) -> CollateralLeg:
        """One collateral leg (eMode threshold and bonus for a loop)."""
        lt, bonus = ((ETH_EMODE.liquidation_threshold, ETH_EMODE.liquidation_bonus) if plan.emode
                     else (PARAMS[asset].liquidation_threshold, PARAMS[asset].liquidation_bonus))
        return CollateralLeg(asset, units / 10 ** PARAMS[asset].decimals, lt / 1e4,
                             (bonus - 10_000) / 1e4)

    return LendingPosition(
        plan.account, "aave-v3", plan.account,
        tuple(leg(a, u) for a, u in plan.collateral.items()),
        tuple(DebtLeg(a, u / 10 ** PARAMS[a].decimals) for a, u in plan.debt.items()))


def down_distance(settings: Settings, accounts: int, asset: str) -> float | None:
    """How far below the start price the down trigger of `asset` sits, None without one."""
    book = [position(p) for p in plan_positions(accounts, seed=0)]
    depth = settings.assets[asset].depth_model()
    assert depth is not None
    cfg = settings.cascade
    found = find_cascade_trigger(build_clusters(book, asset, PRICES), PRICES[asset], depth,
                                 "down", a_min=cfg.a_min, levels=cfg.levels,
                                 max_move=cfg.max_move)
    return None if found is None else 1 - found.trigger_price / PRICES[asset]


@pytest.mark.parametrize("accounts", [100, 300])
@pytest.mark.parametrize("asset", ["WETH", "WBTC"])
def test_devnet_model_shows_triggers_a_few_percent_below_start(accounts: int, asset: str) -> None:
    with resources.as_file(resources.files("monitor").joinpath("devnet_config.toml")) as path:
        settings = load_settings(path, environ={})
    distance = down_distance(settings, accounts, asset)
    assert distance is not None and 0.01 <= distance <= 0.2


@pytest.mark.parametrize("asset", ["WETH", "WBTC"])
def test_mainnet_depth_shows_no_trigger_on_the_devnet_book(asset: str) -> None:
    assert down_distance(load_settings(environ={}), 300, asset) is None
