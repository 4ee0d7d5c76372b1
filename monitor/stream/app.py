"""The Faust app of the monitor, assembled from its features. build_stream() makes a fresh app
per call (no module-level app), so tests and several workers in one process never share one.

A price tick's path: the prices feature applies it and announces the move once → the positions
feature marks the clusters it changes and publishes their partials (coalesced) → the clusters
feature merges them and announces the assets that changed → the cascades feature projects
those assets (coalesced) and serves, publishes and summarises the projections.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Final, cast

import faust
from faust.web import Request, Response, View

from monitor.config import Settings
from monitor.stream import tansu
from monitor.stream.alerts import Alerts
from monitor.stream.cascades import Cascades
from monitor.stream.clusters import Clusters
from monitor.stream.contagion import Contagion
from monitor.stream.context import Context
from monitor.stream.depth import Depth
from monitor.stream.map import LiquidationMap
from monitor.stream.positions import Positions
from monitor.stream.prices import Prices
from monitor.stream.web import guard
from monitor.stream.web.http import answer
from monitor.wire import CLUSTER_PARTIALS

PRODUCER_BATCH_BYTES: Final = 512 * 1024  # below the producer's 1,000,000-byte request limit


@dataclass
class Stream:
    """One app and its features, each owning its state."""

    ctx: Context
    prices: Prices
    positions: Positions
    clusters: Clusters
    depth: Depth
    cascades: Cascades
    alerts: Alerts
    contagion: Contagion

    @property
    def app(self) -> faust.App:
        """The Faust app."""
        return self.ctx.app


def canonical_url(settings: Settings) -> str:
    """The URL other workers use to reach this worker's web view when routing a query."""
    if settings.canonical_url:
        return settings.canonical_url
    host = settings.web_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{settings.web_port}"


def new_app(settings: Settings) -> faust.App:
    """A Faust app configured from settings (loopback web view, short group timeouts)."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=canonical_url(settings),
        web_in_thread=False,
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.005,
        # a cluster partial is tens of kilobytes: with Faust's 16 KiB batches each is a batch
        # of its own, and aiokafka sends a partition's next batch only once the last one is
        # acknowledged, so a price move's partials for one asset went out one round trip each
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        TableManager="monitor.stream.recovery:OrderedTableManager",
    )
    if settings.broker_flavor == "tansu":
        tansu.install(app)
    return app


def _health(stream: Stream) -> None:
    """GET /health/ (ready: 200 once partitions are assigned and tables recovered, 503 before
    and while partitions move) and GET /health/live/ (live: 200 while the worker serves)."""
    ctx = stream.ctx

    @ctx.app.page("/health/live/")
    async def live(view: View, request: Request) -> Response:
        """Liveness of this worker: it answers (restart it if it does not)."""
        return answer(view, {"status": "live", "live": True, "ready": ctx.ready()})

    @ctx.app.page("/health/")
    async def health(view: View, request: Request) -> Response:
        """Readiness of this worker: whether it can answer queries now."""
        ready = ctx.ready()
        return answer(view, {
            "status": "ok" if ready else "starting", "live": True, "ready": ready,
            "worker": ctx.app.conf.canonical_url.human_repr(),
            "partitions": sorted(stream.positions.books.partitions),
            "positions": len(stream.positions.books),
        }, 200 if ready else 503)


def build_stream(settings: Settings) -> Stream:
    """A fresh app with every feature wired, its web view and /metrics."""
    ctx = Context(new_app(settings), settings)
    partials = ctx.topic(ctx.internal(CLUSTER_PARTIALS))
    prices = Prices(ctx)
    positions = Positions(ctx, prices, partials)
    clusters = Clusters(ctx, prices, partials, positions.published)
    depth = Depth(ctx)
    cascades = Cascades(ctx, prices, clusters, depth)
    alerts = Alerts(ctx, prices, positions, clusters, cascades)
    contagion = Contagion(ctx, prices, positions, cascades, depth.observed.model_for)
    stream = Stream(ctx, prices, positions, clusters, depth, cascades, alerts, contagion)
    LiquidationMap(ctx, prices, clusters)
    _health(stream)
    ctx.metrics.serve(ctx.app)
    guard.install(cast(Any, ctx.app.web).web_app, settings)  # Faust's aiohttp driver
    return stream


def create_app(settings: Settings) -> faust.App:
    """A fresh, fully wired Faust app for these settings."""
    return build_stream(settings).app
