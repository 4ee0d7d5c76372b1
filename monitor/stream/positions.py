"""The positions agent: applies versioned snapshots to the changelog-backed snapshot table and
to the partition's columnar book, and publishes per-partition cluster partials.

Ordering rule: a snapshot is applied only if its version is newer than the stored one; a
`closed` snapshot removes the position but leaves a tombstone holding its version, so an older
snapshot arriving later never resurrects it. Duplicates and replays are therefore harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from faust.types import StreamT

from monitor.risk import Position, from_snapshot, to_snapshot
from monitor.stream.app import POSITIONS, Pipeline
from monitor.stream.deadletter import reject
from monitor.stream.inputs import Closed, Rejected, Version, parse_position

log = logging.getLogger(__name__)


def is_newer(incoming: Version, stored: Mapping[str, Any] | None) -> bool:
    """True when `incoming` must replace the stored table value (older or equal never do)."""
    return stored is None or incoming > tuple(stored["version"])


def table_value(update: Position | Closed, partition: int) -> dict[str, Any]:
    """What the snapshot table stores: the version, the partition and the snapshot (None for
    a closed position's tombstone)."""
    snapshot = None if isinstance(update, Closed) else to_snapshot(update)
    return {"version": list(update.version), "partition": partition, "snapshot": snapshot}


def stored_positions(pipe: Pipeline) -> Iterator[tuple[int, Position]]:
    """(partition, position) for every open position in the local snapshot table."""
    for value in pipe.position_table.values():
        if value and value.get("snapshot") is not None:
            yield int(value["partition"]), from_snapshot(value["snapshot"])


def register(pipe: Pipeline) -> None:
    """Add the positions agent, the book rebuild on recovery and the partial publisher."""
    app, table, metrics = pipe.app, pipe.position_table, pipe.metrics
    close_factors = {name: p.close_factor for name, p in pipe.settings.protocols.items()}

    @app.agent(pipe.positions, name="positions")
    async def apply_snapshots(stream: StreamT[bytes]) -> None:
        """Validate, order by version and apply every position snapshot."""
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            try:
                update = parse_position(message.key, message.value, close_factors)
            except Rejected as rejected:
                await reject(pipe.dead_letters, metrics, POSITIONS, event, rejected)
                continue
            if is_newer(update.version, table.get(update.position_id)):
                table[update.position_id] = table_value(update, message.partition)
                pipe.books.apply(message.partition, update)
                metrics.processed.labels(POSITIONS, "applied").inc()
            else:
                metrics.processed.labels(POSITIONS, "stale").inc()
            metrics.latency.labels(POSITIONS).observe(time.perf_counter() - started)
            metrics.lag.labels(POSITIONS).observe(max(0.0, time.time() - message.timestamp))

    async def rebuild_books() -> None:
        """Rebuild the columnar books of the owned partitions from the recovered table."""
        pipe.books.rebuild(pipe.owned(POSITIONS), stored_positions(pipe))
        await pipe.learn_route_partitions()
        log.info("position books rebuilt: %d positions in partitions %s",
                 len(pipe.books), sorted(pipe.books.partitions))

    async def publish_partials() -> None:
        """Send a fresh cluster partial for every (partition, asset) whose clusters changed."""
        if not pipe.ready():
            return
        prices = pipe.current_prices()
        for asset, price in prices.items():
            if pipe.seen_prices.get(asset) != price:
                pipe.seen_prices[asset] = price
                pipe.books.price_moved(asset)
        for partition, book, asset in pipe.books.take_dirty():
            try:
                clusters = book.book.clusters(asset, prices, pipe.grid)
            except KeyError as missing:
                log.debug("partial %s/%d waits for a price: %s", asset, partition, missing)
                book.dirty.add(asset)
                continue
            book.published.add(asset)
            await pipe.partials.send(key=asset.encode(), value=orjson.dumps({
                "asset": asset, "partition": partition, "built_at": time.time(),
                "clusters": clusters.to_dict()}))

    table.on_recover(rebuild_books)
    app.timer(pipe.settings.partial_interval)(publish_partials)
