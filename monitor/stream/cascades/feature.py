"""The cascades feature: for each asset whose clusters this worker owns, the cascade trigger on
both sides, recomputed (coalesced) as soon as the asset's clusters, its price or its observed
depth change (depth from the depth feature's depth_for: observed pools, else configured), served
from memory, published to `cascades`, and summarised in a global table for GET /clusters/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.stream.announce import Announcer
from monitor.stream.cascades.projection import index_entry, project
from monitor.stream.cascades.views import register_views
from monitor.stream.clusters import Clusters
from monitor.stream.coalesce import Coalescer
from monitor.stream.context import Context
from monitor.stream.depth import Depth
from monitor.stream.prices import Prices
from monitor.wire import CASCADES, PriceUpdate


class Cascades:
    """The projector, the latest projection per owned asset and the global summaries."""

    def __init__(self, ctx: Context, prices: Prices, clusters: Clusters, depth: Depth) -> None:
        self.ctx, self.prices, self.clusters, self.depth = ctx, prices, clusters, depth
        self.output = ctx.topic(CASCADES)
        self.summaries = ctx.table("asset-summaries", global_=True, by_key=True)
        self.projections: dict[str, dict[str, Any]] = {}
        self.projected: Announcer[dict[str, Any]] = Announcer()
        self.contagion: dict[str, dict[str, Any]] = {}  # by asset and side: joint projections
        self._dirty: set[str] = set()
        # a price or pool move is urgent; merged partials (a dozen arrive one by one after a
        # price move) are folded into fewer passes, so that the merges are not queued behind
        # a pass each
        self.projector = Coalescer("cascades", self._project, ctx.metrics,
                                   ctx.budget, ctx.settings.urgent_share)
        ctx.app.task(self.projector.run)
        clusters.changed.subscribe(self.mark)
        prices.moved.subscribe(self._price_moved)
        depth.changed.subscribe(self._depth_changed)
        ctx.on_ready(self._reassigned)
        ctx.metrics.add_gauges(self._gauges)
        register_views(ctx, self)

    def mark(self, asset: str, urgent: bool = False) -> None:
        """The asset's clusters, price or depth changed: project it in the next pass."""
        self._dirty.add(asset)
        self.projector.poke(urgent)

    def _price_moved(self, update: PriceUpdate) -> None:
        """A moved price changes the projection of an asset this worker projects."""
        if self.clusters.board.entry(update.asset) is not None:
            self.mark(update.asset, urgent=True)

    def _depth_changed(self, asset: str) -> None:
        """New pool reserves change the projection of an asset this worker projects."""
        if self.clusters.board.entry(asset) is not None:
            self.mark(asset, urgent=True)

    def _reassigned(self) -> None:
        """After a rebalance: forget the assets moved away, project every one held."""
        for asset in set(self.projections) - set(self.clusters.board.assets):
            del self.projections[asset]
        for asset in self.clusters.board.assets:
            self.mark(asset)

    async def _project(self) -> None:
        """Project every marked asset and publish the projections."""
        if not self.ctx.ready():
            return  # the marks stay; the rebalance's end marks everything again
        dirty, self._dirty = self._dirty, set()
        settings = self.ctx.settings
        for asset in sorted(dirty):
            merged, entry = self.clusters.board.merged(asset), self.clusters.board.entry(asset)
            price = self.prices.values.get(asset)
            if merged is None or entry is None or price is None:
                self.projections.pop(asset, None)
                continue
            depth, provenance = self.depth.depth_for(asset)
            projection = project(asset, merged, price, depth, provenance, settings.cascade,
                                 entry.updated_at(), entry.price_versions())
            self.projections[asset] = projection
            await self.output.send(key=asset.encode(), value=orjson.dumps(projection),
                                   partition=self.ctx.partition_of(asset))
            self.summaries[asset] = index_entry(projection)
            self.projected.announce(projection)

    def _gauges(self) -> Iterator[Metric]:
        """Per owned asset: liquidatable value within moves, and the significant trigger's
        distance, amplification, induced move and liquidated value."""
        liq = GaugeMetricFamily(
            "monitor_liquidatable_usd",
            "Modelled USD liquidated if the price moves `move` against `side`",
            labels=["asset", "side", "move"])
        dist = GaugeMetricFamily(
            "monitor_cascade_distance_to_trigger_ratio",
            "Distance from the price to the cascade trigger, as a fraction of the price",
            labels=["asset", "side"])
        amp = GaugeMetricFamily("monitor_cascade_amplification",
                                "Modelled amplification at the cascade trigger",
                                labels=["asset", "side"])
        induced = GaugeMetricFamily("monitor_cascade_induced_move_ratio",
                                    "Move the cascade adds beyond the trigger's shock, as a "
                                    "fraction of the price (significance)",
                                    labels=["asset", "side"])
        liquidated = GaugeMetricFamily("monitor_cascade_trigger_liquidated_usd",
                                       "Modelled USD liquidated by the cascade at the trigger "
                                       "(significance)", labels=["asset", "side"])
        for asset, projection in sorted(self.projections.items()):
            for side, moves in projection["summary"]["liquidatable_within_usd"].items():
                for move, usd in moves.items():
                    liq.add_metric([asset, side, move], usd)
            for side in ("down", "up"):
                found = projection[side]
                if found["trigger_price"] is not None:
                    dist.add_metric([asset, side], found["distance"])
                    amp.add_metric([asset, side], found["amplification"])
                    induced.add_metric([asset, side], found["induced_move"])
                    liquidated.add_metric([asset, side], found["liquidated_usd"])
        yield from (liq, dist, amp, induced, liquidated)
