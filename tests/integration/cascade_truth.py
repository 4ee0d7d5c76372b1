"""What the truth tests project from: the records an ingester published (exactly what the worker
consumes, newest version per key) turned into positions, prices and each asset's observed
depth, the configured stress shock that is a chain shock, and the risk core's joint projection
of it from them: what the worker's streaming projection must equal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import orjson

from monitor.config import ProtocolConfig, Settings, StressShock, load_settings
from monitor.risk import ContagionProjection, Position, project_contagion
from monitor.stream.contagion.scenarios import contagion_model, stress_scenario
from monitor.stream.depth import ObservedDepth
from monitor.wire import DEPTH, POSITIONS, PRICES, Closed, parse_depth, parse_snapshot

Records = Mapping[tuple[str, str], dict[str, Any]]
DEVNET_MODEL: Final = Path(str(resources.files("monitor").joinpath("devnet_config.toml")))


def devnet_settings(close_factors: Mapping[str, float] | None = None) -> Settings:
    """The model `monitor run` values the devnet with (monitor/devnet_config.toml), some
    protocols' close factors replaced."""
    settings = load_settings(DEVNET_MODEL, environ={})
    changed = {name: ProtocolConfig(close_factor=cf) for name, cf in (close_factors or {}).items()}
    return replace(settings, protocols={**settings.protocols, **changed})


def ingested_positions(records: Records, settings: Settings) -> list[Position]:
    """Every open position published (close factors as the worker's settings give them)."""
    close_factors = {name: p.close_factor for name, p in settings.protocols.items()}
    found = [parse_snapshot(dict(value), close_factors)
             for (topic, _), value in records.items() if topic == POSITIONS]
    return [p for p in found if not isinstance(p, Closed)]


def ingested_prices(records: Records) -> dict[str, float]:
    """Every price published (assets' USD prices and Morpho markets' own)."""
    return {key: float(value["price"]) for (topic, key), value in records.items()
            if topic == PRICES}


def observed_depth(records: Records, settings: Settings) -> ObservedDepth:
    """Every published pool's reserves, as the worker's depth feature holds them."""
    observed = ObservedDepth(settings.assets, settings.cascade.depth_quotes)
    for (topic, key), value in records.items():
        if topic == DEPTH:
            observed.offer(parse_depth(key.encode(), orjson.dumps(value)))
    return observed


def stress_shock(settings: Settings, asset: str, shock: float) -> StressShock:
    """The configured stress shock that is the chain's: `asset`'s pool down `shock`, no
    co-moves (the chain's shock is one pool's sale)."""
    found = [s for s in settings.contagion.stress
             if s.asset == asset and math.isclose(s.move, -shock) and s.betas == {}]
    assert len(found) == 1, f"no single stress shock of {asset} -{shock:.0%} without co-moves"
    return found[0]


def project_shock(records: Records, settings: Settings, shock: StressShock
                  ) -> ContagionProjection:
    """The joint projection of a stress shock from the ingested state, built as the worker
    builds it (monitor.stream.contagion.scenarios: its price, betas and depth_for, observed
    where pools are published, configured elsewhere)."""
    prices = ingested_prices(records)
    scenario = stress_scenario(shock, prices)
    assert scenario is not None, f"{shock.asset}: no price ingested"
    model = contagion_model(scenario, settings, prices, observed_depth(records, settings).model_for)
    return project_contagion(ingested_positions(records, settings), scenario.asset, prices,
                             scenario.shock_price, model)
