"""The alerts feature: rules evaluated in the stream the moment their inputs change, every
state change an event on `alerts` (keyed by fingerprint) kept in a table, and delivery to the
configured receivers from a durable outbox.

Where rules run: asset rules on the worker that owns the asset (its projection and, since
every worker sees prices, its price rules too), position rules on the worker that owns the
position's partition, so one evaluator watches each subject. Each proposed change carries the
next sequence number of its alert and travels on the subject's partition; the alerts agent
beside the evaluator applies a sequence once, so two evaluators during a rebalance never notify
twice (and a notification handed to the couriers by both carries the same webhook-id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import orjson
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.alerting.config import load_alerting
from monitor.alerting.delivery import endpoint_for, send
from monitor.alerting.payloads import JSON, HttpRequest, alertmanager
from monitor.stream.agent import input_agent
from monitor.stream.alerts.courier import Courier, Parcel
from monitor.stream.alerts.evaluator import Evaluator
from monitor.stream.alerts.measures import AssetRules, PositionRules
from monitor.stream.alerts.metrics import AlertMetrics
from monitor.stream.alerts.outbox import Outbox, notification_kind, outcome_bytes
from monitor.stream.alerts.views import register_views
from monitor.stream.cascades import Cascades
from monitor.stream.clusters import Clusters
from monitor.stream.coalesce import Coalescer
from monitor.stream.context import Context
from monitor.stream.positions import Positions
from monitor.stream.prices import Prices
from monitor.wire import ALERT_DELIVERIES, ALERTS, AlertRecord, PriceUpdate, Rejected

log = logging.getLogger(__name__)
# seconds between scans while snapshots keep changing books (they scan only the positions they
# changed; a rebalance scans whole books); a price move's scan is urgent and skips the gap
SCAN_GAP: Final = 0.5
# changed positions, as a share of their book, from which the whole book is scanned instead: a
# changed id costs ~1 us (dict lookups, gathered rows), a whole book ~80 ns a position
WHOLE_SHARE: Final = 0.05


class Alerts:
    """Evaluator, rules, the alerts and outbox tables, their agents and the couriers."""

    def __init__(self, ctx: Context, prices: Prices, positions: Positions, clusters: Clusters,
                 cascades: Cascades) -> None:
        self.ctx, self.prices, self.positions = ctx, prices, positions
        self.cfg = load_alerting(ctx.settings.config_path)
        self.metrics = AlertMetrics(ctx.metrics)
        self.topic = ctx.topic(ALERTS)
        self.deliveries = ctx.topic(ctx.internal(ALERT_DELIVERIES))
        self.owned: set[int] = set()
        generator = ctx.app.conf.canonical_url.human_repr().rstrip("/")
        self.couriers = {
            name: Courier(receiver, endpoint_for(receiver, os.environ), self._report,
                          ctx.ready, generator, self._refill)
            for name, receiver in self.cfg.receivers.items()}
        self.outbox = Outbox(ctx, self.cfg, self.couriers, self.metrics)
        self.evaluator = Evaluator(self.cfg, self._propose)
        self.assets = AssetRules(self.cfg, self.evaluator, self.owns, prices.latest,
                                 clusters.board.merged)
        self.position_rules = PositionRules(self.cfg, self.evaluator, ctx.partition_of,
                                            positions.find)
        self.scanner = Coalescer("alerts-positions", self._scan, ctx.metrics, ctx.budget,
                                 ctx.settings.urgent_share, min_gap=SCAN_GAP)
        # positions partition -> the ids changed since its last scan (None: scan the whole book)
        self.to_scan: dict[int, set[str] | None] = {}
        self.known: set[int] = set()  # partitions whose whole book was scanned since the rebalance
        input_agent(ctx, self.topic, name="alerts", label=ALERTS, handle=self.outbox.apply,
                    limits=ctx.settings.limits)
        input_agent(ctx, self.deliveries, name="alert-deliveries",
                    label=self.deliveries.get_topic_name(), handle=self.outbox.delivered)
        for courier in self.couriers.values():
            ctx.app.task(courier.run)
            if courier.receiver.kind == "alertmanager":
                ctx.app.task(self._resender(courier))
        if self.position_rules.rules:
            ctx.app.task(self.scanner.run)
        prices.moved.subscribe(self._price_moved)
        positions.applied.subscribe(self._changed)
        cascades.projected.subscribe(self.assets.projected)
        ctx.on_ready(self._reassigned)
        ctx.metrics.add_gauges(self._gauges)
        register_views(ctx, self)

    def owns(self, subject: str) -> bool:
        """Whether this worker evaluates the alerts of `subject` (an asset or a position)."""
        return self.ctx.partition_of(subject) in self.owned

    def _propose(self, fp: str, subject: str, record: AlertRecord | None,
                 before: AlertRecord | None) -> None:
        """Send a change (None: forget the alert) to the subject's partition of `alerts`, and
        its notifications to the couriers."""
        partition = self.ctx.partition_of(subject)
        self.topic.send_soon(key=fp.encode(), value=None if record is None else record.to_bytes(),
                             partition=partition)
        if record is not None:
            self.outbox.early(record, notification_kind(before.status if before else None,
                                                        record), partition)

    def _price_moved(self, update: PriceUpdate) -> None:
        """Price rules at once; position rules of the books holding the asset in a scan that
        does not wait for the backfill's budget (a price move is what puts positions near
        liquidation)."""
        self.assets.price_moved(update)
        for partition, book in self.positions.books.partitions.items():
            if update.asset in book.book.assets():
                self._mark(partition, urgent=True)

    def _mark(self, partition: int, urgent: bool = False) -> None:
        """A partition's book was repriced or reassigned: every position's health may differ."""
        if self.position_rules.rules:
            self.to_scan[partition] = None
            self.scanner.poke(urgent)

    def _changed(self, applied: tuple[int, tuple[str, ...]]) -> None:
        """Snapshots changed these positions: scan them, not the book (unless it is unseen)."""
        partition, ids = applied
        if not self.position_rules.rules:
            return
        changed = self.to_scan.setdefault(partition, set())
        if partition not in self.known:
            self.to_scan[partition] = None
        elif changed is not None:
            changed.update(ids)
            book = self.positions.books.partitions.get(partition)
            if book is None or len(changed) >= WHOLE_SHARE * len(book.book):
                self.to_scan[partition] = None
        self.scanner.poke()

    async def _scan(self) -> None:
        """Position rules over the owned books marked since the last scan."""
        if not self.ctx.ready():
            return
        marked, self.to_scan = self.to_scan, {}
        partitions = self.positions.books.partitions
        books = {p: partitions[p].book for p in sorted(marked)
                 if p in self.owned and p in partitions}
        changed = {p: ids for p, ids in marked.items() if ids is not None and p in books}
        self.position_rules.scan(books, self.prices.values, changed)
        self.known |= books.keys() - changed.keys()

    def _reassigned(self) -> None:
        """After a rebalance: hold the alerts of the subjects owned now and deliver the
        pending notifications of the partitions owned now."""
        self.owned = self.ctx.owned(self.topic.get_topic_name())
        log.info("alerts: evaluating the subjects of partitions %s", sorted(self.owned))
        self.evaluator.load(self.outbox.records(), self.owns)
        self.assets.reassigned()
        self.known.clear()
        for partition in self.positions.books.partitions:
            self._mark(partition)
        self.outbox.reindex()
        for courier in self.couriers.values():
            courier.keep(self.owned.__contains__)
            self._refill(courier)

    def _refill(self, courier: Courier) -> None:
        """Queue the receiver's pending outbox entries (after a rebalance or an overflow)."""
        for parcel in self.outbox.pending(self.owned.__contains__, courier.receiver.name):
            if not courier.offer(parcel):
                break

    async def _report(self, parcel: Parcel, status: str, error: str) -> None:
        """Count an attempt's outcome, dead-letter a notification given up on, and record the
        outcome on the outbox entry (through the deliveries topic)."""
        receiver = parcel.key.rsplit(".", 1)[1]
        self.metrics.deliveries.labels(receiver, status).inc()
        if status == "retry":
            self.metrics.retries.labels(receiver).inc()
        elif status == "delivered":
            self.metrics.latency.labels(receiver).observe(
                max(time.time() - parcel.notification.record.at, 0.0))
        elif status in ("failed", "gave-up"):
            body = orjson.dumps({"id": parcel.notification.id, "receiver": receiver,
                                 "kind": parcel.notification.kind,
                                 "alert": parcel.notification.record.to_dict()})
            await self.ctx.dead_letters.reject_value(
                "alert-outbox", parcel.partition, -1, parcel.key.encode(), body,
                Rejected(f"delivery-{status}", f"receiver {receiver}: {error}"))
        await self.deliveries.send(key=parcel.key.encode(),
                                   value=outcome_bytes(parcel, status, error),
                                   partition=parcel.partition)

    def _resender(self, courier: Courier) -> Callable[[], Awaitable[None]]:
        """Re-send an Alertmanager receiver its firing alerts well within its lease, so that
        Alertmanager keeps them open (and resolves them if this worker dies)."""
        receiver = courier.receiver

        async def resend() -> None:
            """Push the firing alerts of the owned fingerprints every resend_interval."""
            while True:
                await asyncio.sleep(receiver.resend_interval)
                if not self.ctx.ready() or courier.session is None:
                    continue
                firing = [r for r in self.outbox.records() if r.status == "firing"
                          and self.owns(r.subject)
                          and receiver.takes(r.labels)]
                if not firing:
                    continue
                body = orjson.dumps(alertmanager(firing, courier.lease, time.time(),
                                                 courier.generator_url))
                request = HttpRequest(f"{courier.endpoint.url.rstrip('/')}/api/v2/alerts",
                                      body, JSON)
                attempt = await send(courier.session, request, receiver.timeout)
                self.metrics.deliveries.labels(receiver.name, f"resend-{attempt.outcome}").inc()

        return resend

    def _gauges(self) -> Iterator[Metric]:
        """Queue depth per receiver, alerts held by rule and status, liquidatable growth."""
        depth = GaugeMetricFamily("monitor_alert_queue_depth",
                                  "Notifications waiting in a receiver's queue",
                                  labels=["receiver"])
        for name, courier in sorted(self.couriers.items()):
            depth.add_metric([name], len(courier.parcels))
        active = GaugeMetricFamily("monitor_alerts_active",
                                   "Alerts this worker evaluates, by rule and status",
                                   labels=["rule", "status"])
        counts: dict[tuple[str, str], int] = {}
        for record in self.evaluator.held.values():
            counts[(record.rule, record.status)] = counts.get((record.rule, record.status),
                                                              0) + 1
        for (rule, status), count in sorted(counts.items()):
            active.add_metric([rule, status], count)
        growth = GaugeMetricFamily(
            "monitor_liquidatable_growth_ratio",
            "Growth of the USD liquidated by `move` against `side` over its low of the last "
            "`window` seconds (held in the stream)", labels=["asset", "side", "move", "window"])
        for labels, ratio in sorted(self.assets.growth.items()):
            growth.add_metric(list(labels), ratio)
        yield from (depth, active, growth)
