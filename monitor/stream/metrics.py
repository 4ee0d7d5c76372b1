"""Prometheus metrics of one worker, in a registry of its own so that several apps in one
process (tests) never collide; Faust's own sensors report into the same registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MOVES: Final = (0.01, 0.05, 0.10)
ClusterSide = Literal["long", "short"]
CascadeSide = Literal["down", "up"]
CLUSTER_SIDES: Final[tuple[ClusterSide, ...]] = ("long", "short")
CASCADE_SIDES: Final[tuple[CascadeSide, ...]] = ("down", "up")
LATENCY_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                          0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class AssetRisk:
    """What /metrics reports for one asset this worker owns."""

    asset: str
    liquidatable_usd: dict[tuple[str, float], float]  # (side, move) -> USD
    trigger_distance: dict[str, float]  # "down"/"up" -> |trigger - price| / price
    amplification: dict[str, float]  # "down"/"up" -> amplification at the trigger


@dataclass(frozen=True)
class PriceInfo:
    """Oracle price and its timestamp, for freshness alerts."""

    asset: str
    price: float
    timestamp: float


class LiveCollector(Collector):
    """Gauges read from the worker's in-process state at scrape time (never stale on rebalance)."""

    def __init__(self, positions: Callable[[], int], risks: Callable[[], Iterable[AssetRisk]],
                 prices: Callable[[], Iterable[PriceInfo]]) -> None:
        self._positions, self._risks, self._prices = positions, risks, prices

    def collect(self) -> Iterator[Metric]:
        """Yield the current gauges."""
        tracked = GaugeMetricFamily("monitor_positions_tracked",
                                    "Open positions held in this worker's partitions")
        tracked.add_metric([], self._positions())
        yield tracked
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
        for risk in self._risks():
            for (side, move), usd in sorted(risk.liquidatable_usd.items()):
                liq.add_metric([risk.asset, side, f"{move:g}"], usd)
            for side, value in sorted(risk.trigger_distance.items()):
                dist.add_metric([risk.asset, side], value)
            for side, value in sorted(risk.amplification.items()):
                amp.add_metric([risk.asset, side], value)
        yield from (liq, dist, amp)
        price = GaugeMetricFamily("monitor_price_usd", "Last oracle price seen", labels=["asset"])
        stamp = GaugeMetricFamily("monitor_price_timestamp_seconds",
                                  "Timestamp carried by the last price update", labels=["asset"])
        for info in self._prices():
            price.add_metric([info.asset], info.price)
            stamp.add_metric([info.asset], info.timestamp)
        yield from (price, stamp)


@dataclass
class Metrics:
    """Counters and histograms the agents update, plus the scrape-time collector."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.processed = Counter("monitor_events_processed", "Input events handled, by outcome",
                                 ["topic", "outcome"], registry=self.registry)
        self.dead_letters = Counter("monitor_dead_letters",
                                    "Input events rejected to the dead-letter topic",
                                    ["topic", "reason"], registry=self.registry)
        self.latency = Histogram("monitor_processing_latency_seconds",
                                 "Time an agent spends on one event", ["topic"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.lag = Histogram("monitor_event_lag_seconds",
                             "Time from the record's broker timestamp to its processing",
                             ["topic"], buckets=LATENCY_BUCKETS, registry=self.registry)

    def attach(self, app: faust.App, collector: LiveCollector) -> None:
        """Register the live gauges and Faust's sensors; serves everything on GET /metrics."""
        self.registry.register(collector)
        setup_prometheus_sensors(app, pattern="/metrics", registry=self.registry,
                                 name_prefix="faust")
