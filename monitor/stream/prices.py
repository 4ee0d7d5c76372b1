"""The prices feature: the latest oracle price of every asset on every worker, and the one
announcement of each move.

Prices are small and needed everywhere, so they live in a global table. The worker whose
prices agent applies an update announces it at once; every other worker announces it as the
table's changelog event arrives. Subscribers (books, cascade projections, alert rules) react
to the announcement; nothing scans prices on a timer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.stream.announce import Announcer
from monitor.stream.context import Context
from monitor.stream.replicated import Replicated
from monitor.wire import PRICES, PriceUpdate, Version, is_newer, parse_price


def from_table(value: dict[str, Any]) -> PriceUpdate:
    """A price update from its table value (written by this app, so trusted)."""
    return PriceUpdate(str(value["asset"]), float(value["price"]),
                       (int(value["version"][0]), int(value["version"][1])),
                       float(value["timestamp"]), str(value.get("source", "")))


class Prices:
    """Latest price per asset, the prices agent and the move announcements."""

    def __init__(self, ctx: Context) -> None:
        self.latest: dict[str, PriceUpdate] = {}
        self.values: dict[str, float] = {}
        self.moved: Announcer[PriceUpdate] = Announcer()
        limits = ctx.settings.limits
        self.replicated = Replicated(
            ctx, PRICES, "prices", parse=lambda key, raw: parse_price(key, raw, limits),
            offer=self.offer, key=lambda update: update.asset, to_value=PriceUpdate.to_dict,
            from_value=from_table, limits=limits)
        ctx.metrics.add_gauges(self._gauges)

    def versions(self) -> dict[str, Version]:
        """Version of every asset's latest price."""
        return {asset: update.version for asset, update in self.latest.items()}

    def offer(self, update: PriceUpdate) -> bool:
        """Keep and announce `update` if it is newer than the price held; True if it was."""
        held = self.latest.get(update.asset)
        if not is_newer(update.version, held.version if held else None):
            return False
        self.latest[update.asset] = update
        self.values[update.asset] = update.price
        self.moved.announce(update)
        return True

    def _gauges(self) -> Iterator[Metric]:
        """Last price and its timestamp per asset (for staleness)."""
        price = GaugeMetricFamily("monitor_price_usd", "Last oracle price seen", labels=["asset"])
        stamp = GaugeMetricFamily("monitor_price_timestamp_seconds",
                                  "Timestamp carried by the last price update", labels=["asset"])
        for asset, update in sorted(self.latest.items()):
            price.add_metric([asset], update.price)
            stamp.add_metric([asset], update.timestamp)
        yield from (price, stamp)
