"""The liquidation map feature: the /map/ pages, and for Grafana, per asset whose clusters this
worker owns, the levels' USD in fixed bands of distance from the price."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.stream.clusters import Clusters
from monitor.stream.context import Context
from monitor.stream.map.bands import BAND_WIDTH, BANDS, band_label, banded
from monitor.stream.map.views import register_views
from monitor.stream.prices import Prices


class LiquidationMap:
    """The map pages and the banded levels gauge."""

    def __init__(self, ctx: Context, prices: Prices, clusters: Clusters) -> None:
        self.prices, self.clusters = prices, clusters
        register_views(ctx)
        ctx.metrics.add_gauges(self._gauges)

    def _gauges(self) -> Iterator[Metric]:
        """Every band of every owned asset with a price (empty bands as 0, so bars never
        vanish)."""
        bands = GaugeMetricFamily(
            "monitor_liquidation_band_usd",
            f"Modelled USD of the liquidation levels in {BAND_WIDTH:.1%}-wide bands of distance "
            f"from the price, out to {BANDS * BAND_WIDTH:.0%}; band: its far edge in % of the "
            "price (long below: negative, short above: positive)",
            labels=["asset", "side", "band"])
        for asset in sorted(self.clusters.board.assets):
            merged, price = self.clusters.board.merged(asset), self.prices.values.get(asset)
            if merged is None or price is None:
                continue
            for (side, band), usd in banded(merged.levels, price).items():
                bands.add_metric([asset, side, band_label(side, band)], usd)
        yield bands
