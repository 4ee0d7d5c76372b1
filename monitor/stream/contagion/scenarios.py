"""What the stream projects jointly and how it serves it (pure: no Faust): each asset's
significant cascade triggers and the configured stress shocks as scenarios, the contagion
model of a scenario (betas from the settings, depth from `depth_for`), and a projection's JSON."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.config import Settings, StressShock
from monitor.risk import CASCADE_SIDES, ContagionModel, ContagionProjection, DepthModel
from monitor.wire import Version

DepthFor = Callable[[str], DepthModel | None]


@dataclass(frozen=True)
class Scenario:
    """One joint projection: `asset` shocked to `shock_price`, the others by `betas` (the
    configured ones when None). `run` names it in rounds and metrics."""

    run: str
    kind: str  # "trigger" or "stress"
    name: str  # the trigger's side, or the stress shock's name
    asset: str
    shock_price: float
    betas: Mapping[str, float] | None = None


def trigger_scenarios(projection: Mapping[str, Any]) -> list[Scenario]:
    """A scenario per side of a cascade projection with a significant trigger."""
    asset = str(projection["asset"])
    return [Scenario(f"{asset}:{side}", "trigger", side, asset,
                     float(projection[side]["trigger_price"]))
            for side in CASCADE_SIDES if projection[side]["trigger_price"] is not None]


def stress_scenario(shock: StressShock, prices: Mapping[str, float]) -> Scenario | None:
    """The stress shock at the current price of its asset (None without one)."""
    price = prices.get(shock.asset)
    if price is None:
        return None
    return Scenario(f"stress:{shock.name}", "stress", shock.name, shock.asset,
                    price * (1.0 + shock.move), shock.betas)


def contagion_model(scenario: Scenario, settings: Settings, prices: Mapping[str, float],
                    depth_for: DepthFor) -> ContagionModel:
    """The configured betas (the scenario's own for its asset) and every priced asset's depth."""
    betas = {asset: found.betas for asset, found in settings.assets.items()}
    if scenario.betas is not None:
        betas[scenario.asset] = scenario.betas
    depths = {asset: depth for asset in prices if (depth := depth_for(asset)) is not None}
    return ContagionModel(betas=betas, depths=depths)


def served(projection: ContagionProjection, scenario: Scenario, partitions: int,
           started_at: float, price_versions: Mapping[str, Version]) -> dict[str, Any]:
    """A joint projection as /cascades/{asset}/ (under `contagion`) and /stress/ serve it."""
    start, terminal = projection.start_prices, projection.terminal_prices
    asset = projection.shocked_asset
    return {"scenario": scenario.run, "kind": scenario.kind, "name": scenario.name,
            "shocked_asset": asset, "shock_price": projection.shock_price,
            "shock_move": projection.shock_price / start[asset] - 1.0,
            "terminal_price": terminal[asset],
            "terminal_prices": terminal,
            "terminal_move": {a: terminal[a] / p - 1.0 for a, p in start.items()
                              if p > 0 and a in terminal and terminal[a] != p},
            "liquidated_usd": projection.liquidated_usd,
            "liquidated_usd_by_protocol": projection.liquidated_usd_by_protocol(),
            "bad_debt_usd": projection.bad_debt_usd,
            "bad_debt_usd_by_protocol": projection.bad_debt_usd_by_protocol,
            "rounds": projection.rounds, "partitions": partitions,
            "started_at": started_at, "computed_at": time.time(),
            "price_versions": {a: list(v) for a, v in price_versions.items()}}
