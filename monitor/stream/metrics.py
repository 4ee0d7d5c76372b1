"""Prometheus metrics of one worker, in a registry of its own so that several apps in one
process (tests) never collide; Faust's own sensors report into the same registry. Counters are
shared; gauges are read from each feature's in-process state at scrape time (never stale
after a rebalance), each feature contributing its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, cast

import faust
from aiohttp import web
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, EventT, StreamT
from faust.types.tuples import Message
from faust.web import Request, Response, View
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                          0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GaugeSource = Callable[[], Iterable[Metric]]


class BoundPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor with the labelled children of its per-message metrics looked
    up once per topic, partition and stream instead of on every message (the same metrics)."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self._per_tp: dict[TP, tuple[Any, Any]] = {}
        self._per_stream: dict[StreamT[Any], Any] = {}

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        """What PrometheusMonitor counts per received message."""
        Monitor.on_message_in(self, tp, offset, message)
        metrics = self._metrics
        metrics.messages_received.inc()
        metrics.active_messages.inc()
        children = self._per_tp.get(tp)
        if children is None:
            children = self._per_tp[tp] = (
                metrics.messages_received_per_topics.labels(topic=tp.topic),
                metrics.messages_received_per_topics_partition.labels(
                    topic=tp.topic, partition=tp.partition))
        children[0].inc()
        children[1].set(offset)

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT[Any],
                           event: EventT[Any]) -> dict[str, Any] | None:
        """What PrometheusMonitor counts per event a stream takes."""
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        metrics = self._metrics
        metrics.total_events.inc()
        metrics.total_active_events.inc()
        child = self._per_stream.get(stream)
        if child is None:
            child = self._per_stream[stream] = metrics.total_events_per_stream.labels(
                stream=f"stream.{self._stream_label(stream)}.events")
        child.inc()
        return state


class FeatureGauges(Collector):
    """Yields the gauges every feature registered, at scrape time."""

    def __init__(self) -> None:
        self.sources: list[GaugeSource] = []

    def collect(self) -> Iterator[Metric]:
        """Every feature's current gauges."""
        for source in self.sources:
            yield from source()


@dataclass
class Metrics:
    """Counters and histograms the agents update, plus the features' scrape-time gauges."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.processed = Counter("monitor_events_processed", "Input events handled, by outcome",
                                 ["topic", "outcome"], registry=self.registry)
        self.dead_letters = Counter("monitor_dead_letters",
                                    "Input events rejected to the dead-letter topic",
                                    ["topic", "reason"], registry=self.registry)
        self.dead_letter_failures = Counter(
            "monitor_dead_letter_failures", "Rejected input events whose dead letter could not "
            "be written (after retries; logged)", ["topic", "reason"], registry=self.registry)
        self.latency = Histogram("monitor_processing_latency_seconds",
                                 "Time an agent spends on one event", ["topic"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.lag = Histogram("monitor_event_lag_seconds",
                             "Time from the record's broker timestamp to its processing",
                             ["topic"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.passes = Histogram("monitor_recompute_pass_seconds",
                                "Duration of one coalesced recomputation pass", ["work"],
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self.pass_failures = Counter("monitor_recompute_failures",
                                     "Recomputation passes that raised (retried on the next "
                                     "change)", ["work"], registry=self.registry)
        self.gauges = FeatureGauges()
        self.registry.register(self.gauges)

    def add_gauges(self, source: GaugeSource) -> None:
        """Report the gauges `source` yields on every scrape."""
        self.gauges.sources.append(source)

    def serve(self, app: faust.App) -> None:
        """Serve the registry on GET /metrics, Faust's own sensors included."""
        app.monitor = BoundPrometheusMonitor(FaustMetrics.create(self.registry, "faust"))
        registry = self.registry

        @app.page("/metrics")
        async def metrics(view: View, request: Request) -> Response:
            """Every metric of this worker, in Prometheus' text format."""
            return cast(Response, web.Response(body=generate_latest(registry),
                                               headers={"Content-Type": CONTENT_TYPE_LATEST}))
