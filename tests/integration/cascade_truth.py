"""What the truth tests project from: the records an ingester published (exactly what the worker
consumes, newest version per key) turned into positions, prices and each asset's observed
depth, and the risk core's joint projection of a shock from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import orjson

from monitor.config import ProtocolConfig, Settings, load_settings
from monitor.risk import ContagionModel, ContagionProjection, Position, project_contagion
from monitor.risk.depth import DepthModel
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


def observed_depths(records: Records, settings: Settings) -> dict[str, DepthModel]:
    """depth_for of every asset with observed pools, from the published reserves."""
    observed = ObservedDepth(settings.assets, settings.cascade.depth_quotes)
    for (topic, key), value in records.items():
        if topic == DEPTH:
            observed.offer(parse_depth(key.encode(), orjson.dumps(value)))
    depths = {}
    for reserves in observed.pools.values():
        for asset in observed.priced_assets(reserves):
            model, provenance = observed.depth_for(asset)
            if model is not None and provenance.source == "observed":
                depths[asset] = model
    return depths


def project_shock(records: Records, settings: Settings, asset: str, shock: float
                  ) -> ContagionProjection:
    """The joint projection of `asset` moving down `shock` from the ingested state: observed
    depth for the pooled assets, no co-moves (the chain's shock is one pool's sale)."""
    prices = ingested_prices(records)
    model = ContagionModel(betas={}, depths=observed_depths(records, settings))
    return project_contagion(ingested_positions(records, settings), asset, prices,
                             prices[asset] * (1.0 - shock), model)
