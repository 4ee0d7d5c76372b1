"""The in-process, columnar position books of the positions partitions this worker owns.

The changelog-backed table is the durable state; a book is a rebuildable index over it that
lets a price tick recompute every liquidation price of a partition in one numpy pass. Each
book also tracks which assets' cluster partials are out of date ("dirty"), and the market
price keys its positions have been quoted at (the joint contagion follows them).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from monitor.risk import Position, PositionBook
from monitor.risk.market_prices import MarketPairs, market_pairs
from monitor.wire import Closed

LOAD_CHUNK: Final = 10_000  # recovered positions decoded before they go into a book


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while (and back on if it was on): a
    recovery creates a million positions' objects, none in a cycle, and each of them would
    bring the next full collection, a scan of the whole heap, nearer."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class PartitionBook:
    """One partition's book, its dirty assets, the assets it has published partials for, and
    every market price key a position of it was quoted at (kept after the position closes:
    following a quote nobody holds is harmless)."""

    book: PositionBook = field(default_factory=PositionBook)
    dirty: set[str] = field(default_factory=set)
    published: set[str] = field(default_factory=set)
    markets: MarketPairs = field(default_factory=dict)

    def apply(self, update: Position | Closed) -> None:
        """Upsert or remove one position and mark the assets whose clusters it changes."""
        self.dirty |= self.book.assets_of(update.position_id)
        if isinstance(update, Closed):
            self.book.remove(update.position_id)
        else:
            self.book.upsert(update)
            self.dirty |= update.assets()
            self.markets.update(market_pairs((update,)))

    def load(self, positions: list[Position]) -> None:
        """Bulk-load recovered positions (one vectorised extend, not an upsert each)."""
        self.book.extend(positions)
        self.markets.update(market_pairs(positions))

    def price_moved(self, asset: str) -> None:
        """Mark out of date the clusters of every asset whose levels `asset`'s price moves."""
        self.dirty |= self.book.sharing(asset)


@dataclass
class Books:
    """All partition books of this worker, keyed by positions-partition number."""

    partitions: dict[int, PartitionBook] = field(default_factory=dict)

    def rebuild(self, owned: Iterable[int], positions: Iterable[tuple[int, Position]]) -> None:
        """Replace every book by one built from `positions` for the `owned` partitions, a
        chunk at a time (never all of a recovery's Position objects at once); all assets of a
        rebuilt book are dirty, and so are those it published before."""
        previous = self.partitions
        self.partitions = {p: PartitionBook() for p in owned}
        recovered: dict[int, list[Position]] = {p: [] for p in self.partitions}
        with collector_paused():
            for partition, position in positions:
                chunk = recovered.get(partition)
                if chunk is not None:
                    chunk.append(position)
                    if len(chunk) == LOAD_CHUNK:
                        self.partitions[partition].load(chunk)
                        chunk.clear()
            for partition, book in self.partitions.items():
                book.load(recovered[partition])
        for partition, book in self.partitions.items():
            book.dirty |= book.book.assets()
            if partition in previous:
                book.published = previous[partition].published
                book.dirty |= book.published

    def apply(self, partition: int, update: Position | Closed) -> None:
        """Apply an update read from `partition` (its book is created on first use)."""
        book = self.partitions.get(partition)
        if book is None:
            book = self.partitions[partition] = PartitionBook()
        book.apply(update)

    def holders(self, position_id: str) -> list[int]:
        """The partitions whose book holds this id (more than one means misplaced records)."""
        return [p for p, book in self.partitions.items() if position_id in book.book]

    def price_moved(self, asset: str) -> None:
        """A price changed: every book re-derives the clusters it affects."""
        for book in self.partitions.values():
            book.price_moved(asset)

    def take_dirty(self) -> Iterator[tuple[int, PartitionBook, str]]:
        """(partition, book, asset) for every out-of-date partial, clearing the marks."""
        for partition, book in list(self.partitions.items()):
            dirty, book.dirty = book.dirty, set()
            for asset in sorted(dirty):
                yield partition, book, asset

    def __len__(self) -> int:
        """Positions held in all books."""
        return sum(len(book.book) for book in self.partitions.values())
