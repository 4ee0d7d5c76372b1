"""The positions feature: versioned snapshots placed by the app's own hash, kept in a
changelog-backed table and in the owned partitions' columnar books, and each partition's
cluster partials published when its positions or the prices they depend on change.

Placement: producers partition `positions` however their client does (murmur2, CRC32,
FNV-1a...). The placement consumer (placement.py) validates every record and forwards it to
the internal `{app_id}-positions-by-id` topic on partition_of(position id), each target
partition's snapshots packed into one internal record (a JSON array of the validated wire
bytes), so the keeper agent pays Faust's per-event cost once per packed record. The keeper
owns that topic, so table ownership, book and query routing all follow the app's hash. A
snapshot found on the wrong internal partition (written by something else) is counted, logged
and forwarded again.

Ordering: a snapshot is applied only if its version is newer than the stored one; a `closed`
snapshot removes the position but leaves a tombstone holding its version, so an older snapshot
arriving later never resurrects it. Duplicates and replays are therefore harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import Any, Final

import orjson
from faust.types import EventT, TopicT
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.limits import ChainHeads
from monitor.risk import ClusterGrid, Position
from monitor.stream.agent import Outcome, input_agent
from monitor.stream.announce import Announcer
from monitor.stream.coalesce import Coalescer
from monitor.stream.context import Context
from monitor.stream.partials import ClusterPartial
from monitor.stream.partitioned import partition_values
from monitor.stream.positions.books import Books
from monitor.stream.positions.changelog import BatchedWrites, TableWriter
from monitor.stream.positions.decoded import Decoded
from monitor.stream.positions.placement import Placement, pack
from monitor.stream.positions.stored import stored_position, stored_value, stored_version
from monitor.stream.positions.views import register_views
from monitor.stream.prices import Prices
from monitor.wire import (
    Closed,
    PriceUpdate,
    Rejected,
    is_newer,
    parse_position,
    parse_snapshot,
)

log = logging.getLogger(__name__)
PLACED: Final = "positions-by-id"  # internal topic suffix
REPUBLISH_GAP: Final = 0.5  # seconds between partials passes while positions keep changing
Forward = Callable[[int, bytes], Awaitable[Awaitable[Any]]]  # sent; awaiting it: delivered


class Positions:
    """Placement, the keeper agent, the snapshot table, the books and the partial publisher."""

    def __init__(self, ctx: Context, prices: Prices, partials: TopicT) -> None:
        self.ctx, self.prices, self.partials = ctx, prices, partials
        self.grid = ClusterGrid(step=ctx.settings.grid_step)
        self.placed = ctx.topic(ctx.internal(PLACED))
        self.table = ctx.table("position-snapshots", raw_values=True)  # see stored.py
        self.books = Books()
        self.decoded = Decoded()
        # a partition's book took new snapshots: (partition, the ids applied, closed included)
        self.applied: Announcer[tuple[int, tuple[str, ...]]] = Announcer()
        self.published: Announcer[ClusterPartial] = Announcer()  # a partial was sent
        self.forward: Forward = self._send_placed
        self.writes: TableWriter = BatchedWrites(ctx.app, self.table)
        self.publisher = Coalescer("partials", self._publish, ctx.metrics,
                                   ctx.budget, ctx.settings.urgent_share,
                                   min_gap=REPUBLISH_GAP)
        self.misplaced = Counter("monitor_misplaced_records",
                                 "Records found on another partition than the app's hash "
                                 "places them on (forwarded to the right one)", ["topic"],
                                 registry=ctx.metrics.registry)
        self._close_factors = {name: p.close_factor
                               for name, p in ctx.settings.protocols.items()}
        self.limits = ctx.settings.limits
        self.heads = ChainHeads(self.limits.version_margin)
        self.placement = Placement(ctx, self._validate, self._forward_all)
        input_agent(ctx, self.placed, name="position-keeper", label=self.placed.get_topic_name(),
                    handle=self._keep)
        ctx.app.task(self.publisher.run)
        self.table.on_recover(self._rebuild)
        ctx.on_ready(self.publisher.poke)
        prices.moved.subscribe(self._price_moved)
        ctx.metrics.add_gauges(self._gauges)
        register_views(ctx, self)

    async def _send_placed(self, partition: int, batch: bytes) -> Awaitable[Any]:
        """Send a batch of validated snapshots to their partition of the internal topic now
        (not attached to a keeper event being handled); awaiting the result: delivered."""
        return await self.placed.send(value=batch, partition=partition, force=True)

    async def _forward_all(self, placed: dict[int, list[bytes]]) -> None:
        """Send every partition its snapshots, packed into as few records as fit, and return
        once the broker has them all."""
        sent = [await self.forward(partition, batch)
                for partition, raws in sorted(placed.items()) for batch in pack(raws)]
        await asyncio.gather(*sent)

    def _validate(self, key: bytes | None, value: bytes | None) -> str:
        """The position id of a usable snapshot from any producer (Rejected if it is not)."""
        update = parse_position(key, value, self._close_factors, self.limits)
        self._check_head(update)
        return update.position_id

    def _check_head(self, update: Position | Closed) -> None:
        """Rejected("implausible-version") for a chain source's block far beyond its chain's
        head (the highest block this worker has accepted from that chain)."""
        chain = getattr(update, "chain_id", None)
        if chain is not None and not self.heads.plausible(chain, update.version[0]):
            raise Rejected("implausible-version",
                           f"block {update.version[0]} is more than {self.heads.margin} beyond "
                           f"chain {chain}'s head {self.heads.heads[chain]}")

    async def _keep(self, event: EventT[Any]) -> Tally[Outcome]:
        """Apply a batch of placed snapshots to the table and the book, newest version wins."""
        partition = event.message.partition
        try:
            snapshots = orjson.loads(event.message.value or b"")
        except orjson.JSONDecodeError as exc:
            raise Rejected("not-json", str(exc)) from exc
        if not isinstance(snapshots, list) or not all(isinstance(s, dict) for s in snapshots):
            raise Rejected("not-a-batch", "expected a JSON array of snapshot objects")
        tally: Tally[Outcome] = Tally()
        stray: dict[int, list[bytes]] = {}
        changed: list[str] = []
        for snapshot in snapshots:
            try:
                update = parse_snapshot(snapshot, self._close_factors, self.limits)
            except Rejected as rejected:
                await self.ctx.dead_letters.reject_value(
                    self.placed.get_topic_name(), partition, event.message.offset, None,
                    orjson.dumps(snapshot), rejected)
                continue
            home = self.ctx.partition_of(update.position_id)
            if home != partition:
                self._misplaced(update.position_id, partition, home)
                stray.setdefault(home, []).append(orjson.dumps(snapshot))
                tally["forwarded"] += 1
            elif is_newer(update.version,  # the store itself: no sensor call per read
                          stored_version(self.table.data.get(update.position_id))):
                self.writes.set(update.position_id, stored_value(snapshot))
                self.books.apply(partition, update)
                changed.append(update.position_id)
                tally["applied"] += 1
            else:
                tally["stale"] += 1
        await self.writes.flush(partition)
        await self._forward_all(stray)
        if changed:
            self.publisher.poke()
            self.applied.announce((partition, tuple(changed)))
        return tally

    def _misplaced(self, position_id: str, partition: int, home: int) -> None:
        """Say that a snapshot reached the keeper on another partition than its own."""
        topic = self.placed.get_topic_name()
        self.misplaced.labels(topic).inc()
        log.warning("position %r arrived on partition %d of %s, placed on %d: forwarded",
                    position_id, partition, topic, home)

    def find(self, position_id: str) -> Position | None:
        """The open position with this id in the local snapshot table (decoded on demand)."""
        return self.decoded.position(position_id, self.table.get(position_id))

    def stored(self, partitions: Collection[int]) -> Iterator[tuple[int, Position]]:
        """(partition, position) for every open position of `partitions` in the local
        snapshot table."""
        for partition, raw in partition_values(self.table, partitions, self.ctx.partition_of):
            position = stored_position(raw)
            if position is not None:
                yield partition, position

    async def _rebuild(self) -> None:
        """Rebuild the books of the owned partitions from the recovered table."""
        owned = self.ctx.owned(self.placed.get_topic_name())
        self.books.rebuild(owned, self.stored(owned))
        log.info("position books rebuilt: %d positions in partitions %s",
                 len(self.books), sorted(self.books.partitions))
        self.publisher.poke()

    def _price_moved(self, update: PriceUpdate) -> None:
        """Every book marks the clusters the moved price changes; publish them."""
        self.books.price_moved(update.asset)
        self.publisher.poke(urgent=True)

    async def _publish(self) -> float | None:
        """Send a fresh cluster partial for every (partition, asset) whose clusters changed;
        the seconds it held the loop (building, announcing and encoding them: under a
        backfill a send waits seconds for room in the producer's buffer, and that wait is
        not work).

        Every partial is built and announced before the first send: a send yields to the
        loop, and other passes (contagion rounds, projections) would run between partials
        while the board still shows a mix of old and new ones."""
        if not self.ctx.ready():
            return None  # the marks stay; the rebalance's end pokes again
        began = time.perf_counter()
        prices, latest = self.prices.values, self.prices.latest
        made = []
        for partition, book, asset in self.books.take_dirty():
            clusters = book.book.clusters(asset, prices, self.grid)
            used = {a: latest[a].version for a in book.book.sharing(asset) if a in latest}
            book.published.add(asset)
            made.append(ClusterPartial(asset, partition, time.time(), clusters, used))
        for partial in made:
            self.published.announce(partial)
        encoded = [(partial.asset, partial.to_bytes()) for partial in made]
        held = time.perf_counter() - began
        for asset, value in encoded:
            await self.partials.send(key=asset.encode(), value=value,
                                     partition=self.ctx.partition_of(asset))
        return held

    def _gauges(self) -> Iterator[Metric]:
        """Positions held."""
        tracked = GaugeMetricFamily("monitor_positions_tracked",
                                    "Open positions held in this worker's partitions")
        tracked.add_metric([], len(self.books))
        yield tracked
