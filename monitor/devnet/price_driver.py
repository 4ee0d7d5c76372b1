"""Walk the devnet's oracle prices along a named scenario path (e.g. the 2020-03-12 crash), one
aggregator round per asset and step (Morpho's oracles moving with it, and each Uniswap pool
traded to the same price, as arbitrage would), so the whole stack sees a real crash through the
chain; the liquidators clear each protocol after every step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from monitor.devnet.devnet import Devnet
from monitor.devnet.liquidator import Liquidator, Sweep, is_underwater
from monitor.devnet.morpho_liquidator import MorphoLiquidator
from monitor.scenario.paths import price_path


@dataclass(frozen=True)
class DriveStep:
    """One applied step: its index, the prices set, the head block, which Aave accounts and
    Morpho positions were liquidatable and what the liquidators (if any) did about it."""

    index: int
    steps: int
    prices: dict[str, float]
    block: int
    liquidatable: int
    accounts: int
    sweep: Sweep | None = None
    morpho_liquidatable: int = 0
    morpho_positions: int = 0
    morpho_sweep: Sweep | None = None

    def line(self) -> str:
        """A progress line."""
        prices = " ".join(f"{asset} {price:,.2f}" for asset, price in self.prices.items())
        text = (f"step {self.index + 1}/{self.steps} block {self.block}: {prices}; "
                f"liquidatable {self.liquidatable}/{self.accounts} on Aave, "
                f"{self.morpho_liquidatable}/{self.morpho_positions} on Morpho")
        sweeps = [s.line() for s in (self.sweep, self.morpho_sweep) if s is not None]
        return "; ".join([text, *sweeps])


def planned_path(devnet: Devnet, name: str, steps: int, seed: int = 0) -> list[dict[str, float]]:
    """The path `name` from the oracle's current prices (ValueError for an unknown name)."""
    return price_path(name, devnet.prices(), steps, seed)


def drive(devnet: Devnet, path: list[dict[str, float]], interval: float,
          report: Callable[[DriveStep], None], stop: threading.Event | None = None,
          liquidator: Liquidator | None = None,
          morpho_liquidator: MorphoLiquidator | None = None) -> int:
    """Apply each step's prices (only those that change), one step every `interval` seconds,
    then let the liquidators clear the Aave accounts below HF 1 and the unhealthy Morpho
    positions; the number of steps applied (fewer when `stop` is set)."""
    stop = stop or threading.Event()
    applied = 0
    for index, prices in enumerate(path):
        if index and stop.wait(interval):
            break
        now = devnet.prices()
        for asset, usd in prices.items():
            if round(usd * 1e8) != round(now[asset] * 1e8):
                devnet.set_price(asset, usd)
            if devnet.has_pools and asset in devnet.pools.assets:
                devnet.pools.arbitrage(devnet.deployer, asset, usd)
        data = devnet.account_data()
        under = sum(1 for d in data.values() if is_underwater(d))
        sweep = liquidator.sweep(data) if liquidator else None
        morpho_sweep = morpho_liquidator.sweep() if morpho_liquidator else None
        morpho_under = morpho_sweep.underwater if morpho_sweep else \
            sum(not h.healthy for h in devnet.morpho.healths().values())
        report(DriveStep(index, len(path), prices, devnet.block_number(), under, len(data),
                         sweep, morpho_under, len(devnet.morpho.positions), morpho_sweep))
        applied += 1
    return applied
