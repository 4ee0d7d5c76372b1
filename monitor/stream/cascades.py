"""Cascade projections: for each asset this worker owns, the trigger of a liquidation cascade
on both sides, recomputed when its clusters or its price change (throttled: at most once per
MONITOR_CASCADE_INTERVAL per asset, always after the last change), published to `cascades`;
the cascades agent keeps the latest projection per asset in a table and a global summary."""

from __future__ import annotations

import time
from typing import Any, Final

import orjson
from faust.types import StreamT

from monitor.config import CascadeConfig
from monitor.risk import ClusterMap, DepthModel, find_cascade_trigger, liquidatable_within
from monitor.stream.app import CASCADES, Pipeline
from monitor.stream.deadletter import reject
from monitor.stream.inputs import Rejected, parse_object
from monitor.stream.metrics import CASCADE_SIDES, CLUSTER_SIDES, MOVES, CascadeSide

NO_TRIGGER: Final = {"trigger_price": None, "amplification": None, "terminal_price": None,
                     "liquidated_usd": None, "distance": None}


def trigger(clusters: ClusterMap, price: float, depth: DepthModel | None, side: CascadeSide,
            cfg: CascadeConfig) -> dict[str, Any]:
    """The cascade trigger of one side as JSON (nulls where nothing triggers)."""
    if depth is None:
        return dict(NO_TRIGGER)
    found = find_cascade_trigger(clusters, price, depth, side, a_min=cfg.a_min,
                                 levels=cfg.levels, max_move=cfg.max_move)
    if found is None:
        return dict(NO_TRIGGER)
    return {"trigger_price": found.trigger_price, "amplification": found.amplification,
            "terminal_price": found.terminal_price, "liquidated_usd": found.liquidated_usd,
            "distance": abs(found.trigger_price - price) / price}


def summary(clusters: ClusterMap, price: float) -> dict[str, Any]:
    """Totals of an asset's clusters: value per side and value liquidatable within small moves."""
    value = {"long": 0.0, "short": 0.0}
    positions = 0
    for level in clusters.levels:
        value[level.side] += level.value_usd
        positions += level.positions
    within = {side: {f"{move:g}": liquidatable_within(clusters, price, move, side)
                     for move in MOVES} for side in CLUSTER_SIDES}
    return {"levels": len(clusters.levels), "positions": positions, "value_usd": value,
            "liquidatable_within_usd": within}


def project(asset: str, clusters: ClusterMap, price: float, depth: DepthModel | None,
            cfg: CascadeConfig, updated_at: float | None) -> dict[str, Any]:
    """The published projection of one asset (wire form of GET /cascades/{asset}/)."""
    return {"asset": asset, "price": price, "updated_at": updated_at,
            "computed_at": time.time(), "modelled": depth is not None,
            **{side: trigger(clusters, price, depth, side, cfg) for side in CASCADE_SIDES},
            "summary": summary(clusters, price)}


def register(pipe: Pipeline) -> None:
    """Add the throttled projector timer and the cascades agent."""
    settings = pipe.settings

    async def project_changed() -> None:
        """Project every owned asset that is due under the trailing-edge throttle."""
        if not pipe.ready():
            return
        prices = pipe.current_prices()
        for asset, last in pipe.projections.items():
            if asset in prices and prices[asset] != last["price"]:
                pipe.throttle.mark(asset)
        for asset in pipe.throttle.due():
            clusters, price = pipe.board.merged(asset), prices.get(asset)
            if clusters is None or price is None:
                pipe.projections.pop(asset, None)
                continue
            asset_cfg = settings.assets.get(asset)
            depth = asset_cfg.depth_model() if asset_cfg else None
            projection = project(asset, clusters, price, depth, settings.cascade,
                                 pipe.board.updated_at(asset))
            pipe.projections[asset] = projection
            await pipe.cascades.send(key=asset.encode(), value=orjson.dumps(projection))

    pipe.app.timer(min(settings.cascade_interval / 4, 0.25))(project_changed)

    @pipe.app.agent(pipe.cascades, name="cascades")
    async def store_projections(stream: StreamT[bytes]) -> None:
        """Keep the newest projection per asset, and its summary in the global table."""
        async for event in stream.events():
            try:
                projection = parse_object(event.message.value)
                asset, computed_at = projection["asset"], float(projection["computed_at"])
            except (Rejected, KeyError, TypeError, ValueError) as exc:
                rejected = exc if isinstance(exc, Rejected) else Rejected("invalid-cascade",
                                                                          repr(exc))
                await reject(pipe.dead_letters, pipe.metrics, CASCADES, event, rejected)
                continue
            stored = pipe.cascade_table.get(asset)
            if stored is None or computed_at > float(stored["computed_at"]):
                pipe.cascade_table[asset] = projection
                pipe.summary_table[asset] = projection
