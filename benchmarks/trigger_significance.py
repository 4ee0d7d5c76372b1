"""Figures behind the cascade trigger's significance defaults: over the crash-2020-03-12 replay
(mainnet model) and on the devnet's seeded book (devnet model), the nearest amplifying shock
with and without the significance condition.

python benchmarks/trigger_significance.py [--positions 10000] [--steps 120]  -> JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.config import CascadeConfig, Settings, load_settings
from monitor.devnet.position_plans import plan_positions
from monitor.risk import (
    ClusterGrid,
    ClusterMap,
    PositionBook,
    build_clusters,
    find_cascade_trigger,
    from_snapshot,
)
from monitor.scenario.market import generate_market
from monitor.scenario.paths import price_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.unit.devnet.test_model import PRICES, position  # the devnet's book


def search(clusters: ClusterMap, price: float, settings: Settings, asset: str,
           cfg: CascadeConfig) -> Any:
    """The down trigger of `asset` under `cfg`."""
    depth = settings.assets[asset].depth_model()
    assert depth is not None
    return find_cascade_trigger(clusters, price, depth, "down", cfg.a_min, cfg.levels,
                                cfg.max_move, cfg.min_induced_move, cfg.min_liquidated_usd)


def replay(positions: int, steps: int) -> dict[str, Any]:
    """Per modelled asset: steps with a trigger, the first such step, and the first-shock
    triggers' induced move and liquidated USD, with and without significance."""
    settings = load_settings(environ={})
    market = generate_market(positions, 0)
    book = PositionBook.from_positions([from_snapshot(s) for s in market.snapshots()])
    path = price_path("crash-2020-03-12", market.prices, steps, 0)
    plain = CascadeConfig(min_induced_move=0.0, min_liquidated_usd=0.0)
    out: dict[str, Any] = {}
    for asset in sorted(a for a in market.prices if a in settings.assets):
        rows: dict[str, list[tuple[int, Any]]] = {"amplification_only": [], "significant": []}
        for step, prices in enumerate(path):
            clusters = book.clusters(asset, prices, ClusterGrid())
            for name, cfg in (("amplification_only", plain), ("significant", settings.cascade)):
                found = search(clusters, prices[asset], settings, asset, cfg)
                if found is not None:
                    rows[name].append((step, found))
        out[asset] = {name: {
            "steps_with_trigger": len(found),
            "first_step": found[0][0] if found else None,
            "distance": [round(min(1 - t.trigger_price / path[s][asset] for s, t in found), 4),
                         round(max(1 - t.trigger_price / path[s][asset] for s, t in found), 4)]
            if found else None,
            "induced_move": [round(min(t.induced_move for _, t in found), 4),
                             round(max(t.induced_move for _, t in found), 4)] if found else None,
            "liquidated_usd": [round(min(t.liquidated_usd for _, t in found)),
                               round(max(t.liquidated_usd for _, t in found))] if found else None,
        } for name, found in rows.items()}
    return out


def devnet() -> dict[str, Any]:
    """The devnet book's triggers at the start prices (100 and 300 seeded accounts)."""
    with resources.as_file(resources.files("monitor").joinpath("devnet_config.toml")) as path:
        settings = load_settings(path, environ={})
    out: dict[str, Any] = {}
    for accounts in (100, 300):
        book = [position(p) for p in plan_positions(accounts, seed=0)]
        for asset in ("WETH", "WBTC", "LINK"):
            found = search(build_clusters(book, asset, PRICES), PRICES[asset], settings, asset,
                           settings.cascade)
            out[f"{asset}@{accounts}"] = None if found is None else {
                "distance": round(1 - found.trigger_price / PRICES[asset], 4),
                "amplification": round(found.amplification, 2),
                "induced_move": round(found.induced_move, 4),
                "liquidated_usd": round(found.liquidated_usd)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()
    cfg = load_settings(environ={}).cascade
    print(json.dumps({"criteria": {"a_min": cfg.a_min, "min_induced_move": cfg.min_induced_move,
                                   "min_liquidated_usd": cfg.min_liquidated_usd},
                      "crash-2020-03-12": replay(args.positions, args.steps),
                      "devnet": devnet()}))


if __name__ == "__main__":
    main()
