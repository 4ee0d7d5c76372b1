"""The alerts feature's metrics: alerts fired and resolved by rule, deliveries by receiver and
outcome, retries, and delivery latency (queue depth is a scrape-time gauge of the feature)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from monitor.stream.metrics import LATENCY_BUCKETS, Metrics

# deliveries can wait for retries: the buckets go on to a day
DELIVERY_BUCKETS: Final = (*LATENCY_BUCKETS, 30.0, 60.0, 300.0, 1800.0, 7200.0, 86400.0)


class AlertMetrics:
    """Counters and the latency histogram, registered in the worker's registry."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.changes = Counter("monitor_alerts", "Alert notifications by rule and kind "
                               "(firing, repeat, resolved)", ["rule", "kind"], registry=registry)
        self.deliveries = Counter("monitor_alert_deliveries",
                                  "Notification deliveries by receiver and outcome "
                                  "(delivered, retry, failed, gave-up, superseded)",
                                  ["receiver", "outcome"], registry=registry)
        self.retries = Counter("monitor_alert_delivery_retries",
                               "Delivery attempts that will be retried", ["receiver"],
                               registry=registry)
        self.latency = Histogram("monitor_alert_delivery_latency_seconds",
                                 "Time from an alert's change to its delivery", ["receiver"],
                                 buckets=DELIVERY_BUCKETS, registry=registry)
