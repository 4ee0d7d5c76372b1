"""The depth feature: every pool's latest reserves (the `depth` topic) on every worker, and the
one announcement per asset whose observed depth changed, so projections re-run like they do on
a price move. Pools are few and needed wherever an asset is projected: a global table, applied
by the worker whose agent reads the record and replicated to the others by its changelog."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.risk.depth import DepthModel
from monitor.stream.announce import Announcer
from monitor.stream.context import Context
from monitor.stream.depth.observed import DepthProvenance, ObservedDepth
from monitor.stream.replicated import Replicated
from monitor.wire import DEPTH, PoolReserves, parse_depth


def from_table(value: dict[str, Any]) -> PoolReserves:
    """A pool's reserves from its table value (written by this app, so trusted)."""
    first, second = value["assets"]
    r0, r1 = value["reserves"]
    return PoolReserves(str(value["pool"]), str(value["protocol"]), (str(first), str(second)),
                        (float(r0), float(r1)), float(value["fee"]),
                        (int(value["version"][0]), int(value["version"][1])),
                        float(value["timestamp"]))


class Depth:
    """The pool-reserves table, the depth agent and the per-asset change announcements."""

    def __init__(self, ctx: Context) -> None:
        settings = ctx.settings
        self.observed = ObservedDepth(settings.assets, settings.cascade.depth_quotes)
        self.changed: Announcer[str] = Announcer()
        self.replicated = Replicated(
            ctx, DEPTH, "pool-reserves", parse=parse_depth, offer=self.offer,
            key=lambda reserves: reserves.pool, to_value=PoolReserves.to_dict,
            from_value=from_table, limits=settings.limits)
        ctx.metrics.add_gauges(self._gauges)

    def depth_for(self, asset: str) -> tuple[DepthModel | None, DepthProvenance]:
        """The depth model a projection of `asset` uses, and where it comes from."""
        return self.observed.depth_for(asset)

    def offer(self, reserves: PoolReserves) -> bool:
        """Keep newer reserves and announce the assets whose depth they change."""
        if not self.observed.offer(reserves):
            return False
        for asset in self.observed.priced_assets(reserves):
            self.changed.announce(asset)
        return True

    def _gauges(self) -> Iterator[Metric]:
        """Each pool's reserves (what observed depth is built from)."""
        reserve = GaugeMetricFamily("monitor_pool_reserve", "Observed pool reserve, asset units",
                                    labels=["pool", "asset"])
        for pool, reserves in sorted(self.observed.pools.items()):
            for asset, amount in zip(reserves.assets, reserves.reserves, strict=True):
                reserve.add_metric([pool, asset], amount)
        yield reserve
