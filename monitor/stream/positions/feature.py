"""The positions feature: versioned snapshots placed by the app's own hash, kept in a
changelog-backed table and in the owned partitions' columnar books, and each partition's
cluster partials published when its positions or the prices they depend on change.

Placement: producers partition `positions` however their client does (murmur2, CRC32,
FNV-1a...). The placement agent validates every record and forwards it to the internal
`{app_id}-positions-by-id` topic on partition_of(position id); the keeper agent owns that topic,
so table ownership, book and query routing all follow the app's hash. A record found on the
wrong internal partition (written by something else) is counted, logged and forwarded again.

Ordering: a snapshot is applied only if its version is newer than the stored one; a `closed`
snapshot removes the position but leaves a tombstone holding its version, so an older snapshot
arriving later never resurrects it. Duplicates and replays are therefore harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

from faust.types import EventT, TopicT
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.risk import ClusterGrid, Position, from_snapshot, to_snapshot
from monitor.stream.agent import Outcome, input_agent
from monitor.stream.coalesce import Coalescer
from monitor.stream.context import Context
from monitor.stream.partials import ClusterPartial
from monitor.stream.positions.books import Books
from monitor.stream.positions.views import register_views
from monitor.stream.prices import Prices
from monitor.wire import POSITIONS, Closed, PriceUpdate, is_newer, parse_position

log = logging.getLogger(__name__)
PLACED: Final = "positions-by-id"  # internal topic suffix
Forward = Callable[[bytes, bytes, int], Awaitable[None]]


def table_value(update: Position | Closed, partition: int) -> dict[str, Any]:
    """What the snapshot table stores: the version, the partition and the snapshot (None for
    a closed position's tombstone)."""
    snapshot = None if isinstance(update, Closed) else to_snapshot(update)
    return {"version": list(update.version), "partition": partition, "snapshot": snapshot}


class Positions:
    """Placement and keeper agents, the snapshot table, the books and the partial publisher."""

    def __init__(self, ctx: Context, prices: Prices, partials: TopicT) -> None:
        self.ctx, self.prices, self.partials = ctx, prices, partials
        self.grid = ClusterGrid(step=ctx.settings.grid_step)
        self.placed = ctx.topic(ctx.internal(PLACED))
        self.table = ctx.table("position-snapshots")
        self.books = Books()
        self.forward: Forward = self._send_placed
        self.publisher = Coalescer("partials", self._publish, ctx.metrics,
                                   ctx.settings.recompute_share)
        self.misplaced = Counter("monitor_misplaced_records",
                                 "Records found on another partition than the app's hash "
                                 "places them on (forwarded to the right one)", ["topic"],
                                 registry=ctx.metrics.registry)
        self._close_factors = {name: p.close_factor
                               for name, p in ctx.settings.protocols.items()}
        input_agent(ctx, ctx.topic(POSITIONS), name="positions", label=POSITIONS,
                    handle=self._place)
        input_agent(ctx, self.placed, name="position-keeper", label=self.placed.get_topic_name(),
                    handle=self._keep)
        ctx.app.task(self.publisher.run)
        self.table.on_recover(self._rebuild)
        ctx.on_ready(self.publisher.poke)
        prices.moved.subscribe(self._price_moved)
        ctx.metrics.add_gauges(self._gauges)
        register_views(ctx, self)

    async def _send_placed(self, key: bytes, value: bytes, partition: int) -> None:
        """Send a validated snapshot to its partition of the internal topic."""
        await self.placed.send(key=key, value=value, partition=partition)

    async def _place(self, event: EventT[Any]) -> Outcome:
        """Validate a snapshot from any producer and forward it to where the app places it."""
        key, value = event.message.key, event.message.value
        update = parse_position(key, value, self._close_factors)
        assert key is not None and value is not None  # parse_position refuses them missing
        await self.forward(key, value, self.ctx.partition_of(update.position_id))
        return "forwarded"

    async def _keep(self, event: EventT[Any]) -> Outcome:
        """Apply a placed snapshot to the table and the book, newest version wins."""
        message = event.message
        key, value = message.key, message.value
        update = parse_position(key, value, self._close_factors)
        assert key is not None and value is not None  # parse_position refuses them missing
        home = self.ctx.partition_of(update.position_id)
        if message.partition != home:
            self.misplaced.labels(self.placed.get_topic_name()).inc()
            log.warning("position %r arrived on partition %d of %s, placed on %d: forwarded",
                        update.position_id, message.partition, self.placed.get_topic_name(),
                        home)
            await self.forward(key, value, home)
            return "forwarded"
        if not is_newer(update.version, self._stored_version(update.position_id)):
            return "stale"
        self.table[update.position_id] = table_value(update, message.partition)
        self.books.apply(message.partition, update)
        self.publisher.poke()
        return "applied"

    def _stored_version(self, position_id: str) -> list[int] | None:
        """The version the table holds for a position (tombstones included), if any."""
        stored = self.table.get(position_id)
        return None if stored is None else stored["version"]

    def stored(self) -> Iterator[tuple[int, Position]]:
        """(partition, position) for every open position in the local snapshot table."""
        for value in self.table.values():
            if value and value.get("snapshot") is not None:
                yield int(value["partition"]), from_snapshot(value["snapshot"])

    async def _rebuild(self) -> None:
        """Rebuild the books of the owned partitions from the recovered table."""
        self.books.rebuild(self.ctx.owned(self.placed.get_topic_name()), self.stored())
        log.info("position books rebuilt: %d positions in partitions %s",
                 len(self.books), sorted(self.books.partitions))
        self.publisher.poke()

    def _price_moved(self, update: PriceUpdate) -> None:
        """Every book marks the clusters the moved price changes; publish them."""
        self.books.price_moved(update.asset)
        self.publisher.poke()

    async def _publish(self) -> None:
        """Send a fresh cluster partial for every (partition, asset) whose clusters changed."""
        if not self.ctx.ready():
            return  # the marks stay; the rebalance's end pokes again
        prices, latest = self.prices.values, self.prices.latest
        for partition, book, asset in self.books.take_dirty():
            clusters = book.book.clusters(asset, prices, self.grid)
            used = {a: latest[a].version for a in book.book.sharing(asset) if a in latest}
            book.published.add(asset)
            partial = ClusterPartial(asset, partition, time.time(), clusters, used)
            await self.partials.send(key=asset.encode(), value=partial.to_bytes(),
                                     partition=self.ctx.partition_of(asset))

    def _gauges(self) -> Iterator[Metric]:
        """Positions held."""
        tracked = GaugeMetricFamily("monitor_positions_tracked",
                                    "Open positions held in this worker's partitions")
        tracked.add_metric([], len(self.books))
        yield tracked
