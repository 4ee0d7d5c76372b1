"""The Faust app of the monitor: its topics, tables and in-process state, wired to the agents,
timers and web views. create_app() builds a fresh app per call (no module-level app)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Final, cast

import faust
from faust.types import ChannelT, TopicT

from monitor.config import Settings
from monitor.risk import ClusterGrid
from monitor.stream import tansu
from monitor.stream.board import ClusterBoard
from monitor.stream.books import Books
from monitor.stream.metrics import Metrics
from monitor.stream.throttle import TrailingThrottle

POSITIONS: Final = "positions"
PRICES: Final = "prices"
CASCADES: Final = "cascades"
DEAD_LETTERS: Final = "dead-letters"
CLUSTER_PARTIALS: Final = "cluster-partials"  # internal: prefixed with the app id


@dataclass
class Pipeline:
    """Everything the agents, timers and views of one app share."""

    app: faust.App
    settings: Settings
    positions: TopicT
    prices: TopicT
    partials: TopicT
    cascades: TopicT
    dead_letters: ChannelT[Any]
    position_table: Any  # faust Table: position_id -> {"version", "partition", "snapshot"}
    price_table: Any  # faust GlobalTable: asset -> price update dict
    partial_table: Any  # faust Table: "asset#partition" -> cluster partial message
    cascade_table: Any  # faust Table: asset -> latest cascade projection
    summary_table: Any  # faust GlobalTable: asset -> projection summary (for GET /clusters/)
    metrics: Metrics = field(default_factory=Metrics)
    books: Books = field(default_factory=Books)
    board: ClusterBoard = field(default_factory=ClusterBoard)
    throttle: TrailingThrottle = field(default_factory=lambda: TrailingThrottle(1.0))
    projections: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_prices: dict[str, float] = field(default_factory=dict)

    @property
    def grid(self) -> ClusterGrid:
        """The log-price grid clusters are bucketed on."""
        return ClusterGrid(step=self.settings.grid_step)

    def current_prices(self) -> dict[str, float]:
        """Asset -> latest price, from the global prices table."""
        return {asset: float(value["price"]) for asset, value in self.price_table.items()}

    def owned(self, topic: str) -> set[int]:
        """Partitions of `topic` this worker actively owns now."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def learn_route_partitions(self) -> None:
        """Make the producer track metadata of the tables queries are routed by: table_route
        hashes a key with the producer's partition count of the table's changelog, and aiokafka
        only keeps refreshing topics it was asked to track."""
        producer = self.app.producer
        if producer is None:
            return
        client = cast(Any, producer)._ensure_producer().client
        for table in (self.position_table, self.cascade_table):
            await client.add_topic(table.changelog_topic.get_topic_name())

    def ready(self) -> bool:
        """Assigned, recovered and not rebalancing: safe to answer queries."""
        recovery = cast(Any, self.app.tables).recovery
        return (recovery.completed.is_set() and not self.app.rebalancing
                and not self.app.in_recovery)


def canonical_url(settings: Settings) -> str:
    """The URL other workers use to reach this worker's web view when routing a query."""
    if settings.canonical_url:
        return settings.canonical_url
    host = settings.web_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{settings.web_port}"


def _new_app(settings: Settings) -> faust.App:
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
    )
    if settings.broker_flavor == "tansu":
        tansu.install(app)
    return app


def build_pipeline(settings: Settings) -> Pipeline:
    """Create the app, declare its topics and tables, and register every agent and view."""
    from monitor.stream import cascades, clusters, positions, prices, web

    app = _new_app(settings)
    n = settings.partitions

    def topic(name: str) -> TopicT:
        return app.topic(name, partitions=n, internal=True,
                         key_serializer="raw", value_serializer="raw")

    def table(name: str, *, global_: bool = False) -> Any:
        created: Any = (
            app.GlobalTable(name, partitions=n, key_type=str, recovery_buffer_size=1)  # Tansu
            if global_ else app.Table(name, partitions=n, key_type=str))
        # Faust serialises str keys as JSON ('"k"'); raw UTF-8 makes a table key hash to the
        # partition a plain producer picks for the same key, which table_route relies on.
        created.key_serializer = "raw"
        created.changelog_topic = created.changelog_topic.derive(key_serializer="raw")
        return created

    pipe = Pipeline(
        app=app, settings=settings,
        positions=topic(POSITIONS), prices=topic(PRICES),
        partials=topic(f"{settings.app_id}-{CLUSTER_PARTIALS}"),
        cascades=topic(CASCADES), dead_letters=topic(DEAD_LETTERS),
        position_table=table("position-snapshots"), price_table=table("prices", global_=True),
        partial_table=table("cluster-partials"), cascade_table=table("cascades"),
        summary_table=table("asset-summaries", global_=True),
        throttle=TrailingThrottle(settings.cascade_interval),
    )
    for module in (positions, prices, clusters, cascades, web):
        module.register(pipe)
    return pipe


def create_app(settings: Settings) -> faust.App:
    """A fresh, fully wired Faust app for these settings."""
    return build_pipeline(settings).app
