"""Walk the devnet's oracle prices along a named scenario path (e.g. the 2020-03-12 crash), one
aggregator round per asset and step, so the whole stack sees a real crash through the chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from monitor.chain.devnet import Devnet

ONE: Final = 10**18  # health factor 1 in wad


@dataclass(frozen=True)
class DriveStep:
    """One applied step: its index, the prices set, the head block and who is liquidatable."""

    index: int
    steps: int
    prices: dict[str, float]
    block: int
    liquidatable: int
    accounts: int

    def line(self) -> str:
        """A progress line."""
        prices = " ".join(f"{asset} {price:,.2f}" for asset, price in self.prices.items())
        return (f"step {self.index + 1}/{self.steps} block {self.block}: {prices}; "
                f"liquidatable {self.liquidatable}/{self.accounts}")


def planned_path(devnet: Devnet, name: str, steps: int, seed: int = 0) -> list[dict[str, float]]:
    """The path `name` from the oracle's current prices (ValueError for an unknown name)."""
    from monitor.scenario.paths import price_path  # the scenario package is optional here

    return price_path(name, devnet.prices(), steps, seed)


def drive(devnet: Devnet, path: list[dict[str, float]], interval: float,
          report: Callable[[DriveStep], None], stop: threading.Event | None = None) -> int:
    """Apply each step's prices (only those that change), one step every `interval` seconds;
    the number of steps applied (fewer when `stop` is set)."""
    stop = stop or threading.Event()
    applied = 0
    for index, prices in enumerate(path):
        if index and stop.wait(interval):
            break
        now = devnet.prices()
        for asset, usd in prices.items():
            if round(usd * 1e8) != round(now[asset] * 1e8):
                devnet.set_price(asset, usd)
        data = devnet.account_data()
        under = sum(1 for d in data.values() if d.total_debt_base and d.health_factor < ONE)
        report(DriveStep(index, len(path), prices, devnet.block_number(), under, len(data)))
        applied += 1
    return applied
