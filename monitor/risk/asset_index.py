"""One asset's entries in the position book: the rows of the positions holding it and their
liquidation levels through it, cached.

A level through asset k depends on the position and on the prices of its OTHER assets, never on
k's own price, so an entry stays valid until its position changes (it is then marked stale) or
the price of another asset it holds moves (the book marks those entries stale from `stamp`, the
prices the cache was last brought up to date with). A pass recomputes only the stale entries.

Once the book's clusters are asked for, the index also keeps their running sums (a
ClusterTally): a recomputed entry is taken away and counted again, a discarded one taken away
at the next pass, so the clusters cost the entries that changed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.risk.cluster_tally import UNCOUNTED, ClusterTally
from monitor.risk.clusters import ClusterGrid
from monitor.risk.legs import GROWTH
from monitor.risk.level_fields import FIELDS, PRICE

INITIAL_ENTRIES: Final = 64
AFRESH: Final = 4  # recomputing more than 1/AFRESH of the entries drops the tally


class AssetIndex:
    """Entries of one asset: dense columns; removing an entry moves the last one into it."""

    def __init__(self, capacity: int = INITIAL_ENTRIES) -> None:
        cap = max(int(capacity), 1)
        self.size = 0
        self.rows = np.empty(cap, dtype=np.int32)  # book row of each entry
        self.stale = np.ones(cap, dtype=np.bool_)  # level must be recomputed
        self.side = np.zeros(cap, dtype=np.int8)
        self.values = np.empty((FIELDS, cap))  # rows: level_fields
        self.key = np.full(cap, UNCOUNTED, dtype=np.int64)  # what the tally counts it under
        self.stamp = np.empty(0)  # prices by asset code the fresh entries were computed with
        self.tally: ClusterTally | None = None
        self._gone: list[tuple[int, int, list[float]]] = []  # discarded: key, protocol, levels

    def nbytes(self) -> int:
        """Bytes of the columns (capacity included)."""
        return int(self.rows.nbytes + self.stale.nbytes + self.side.nbytes
                   + self.values.nbytes + self.key.nbytes + self.stamp.nbytes)

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` entries."""
        if capacity <= self.rows.size:
            return
        n = self.size
        rows = np.empty(capacity, dtype=np.int32)
        stale = np.ones(capacity, dtype=np.bool_)
        side = np.zeros(capacity, dtype=np.int8)
        values = np.empty((FIELDS, capacity))
        key = np.full(capacity, UNCOUNTED, dtype=np.int64)
        rows[:n], stale[:n], side[:n], values[:, :n], key[:n] = (
            self.rows[:n], self.stale[:n], self.side[:n], self.values[:, :n], self.key[:n])
        self.rows, self.stale, self.side, self.values, self.key = rows, stale, side, values, key

    def add(self, row: int) -> int:
        """A stale entry for `row`; its index."""
        if self.size == self.rows.size:
            self.reserve(int(GROWTH * self.size) + 1)
        entry = self.size
        self.rows[entry] = row
        self.stale[entry] = True
        self.key[entry] = UNCOUNTED
        self.size += 1
        return entry

    def append(self, rows: npt.NDArray[np.int64]) -> int:
        """Stale entries for many rows (room for exactly them); the first one's index."""
        first = self.size
        self.reserve(first + rows.size)
        self.rows[first:first + rows.size] = rows
        self.stale[first:first + rows.size] = True
        self.key[first:first + rows.size] = UNCOUNTED
        self.size += rows.size
        return first

    def discard(self, entry: int, protocol: int) -> int:
        """Remove an entry (of a position in `protocol`); the last entry moves into its place:
        returns that entry's row, or -1 when the removed entry was the last."""
        if self.tally is not None and self.key[entry] != UNCOUNTED:
            self._gone.append((int(self.key[entry]), protocol, self.values[:, entry].tolist()))
        last = self.size - 1
        self.size = last
        if entry == last:
            return -1
        self.rows[entry] = self.rows[last]
        self.stale[entry] = self.stale[last]
        self.side[entry] = self.side[last]
        self.values[:, entry] = self.values[:, last]
        self.key[entry] = self.key[last]
        return int(self.rows[entry])

    def mark_moved(self, held: npt.NDArray[np.uint64], moved: int) -> None:
        """Mark stale every entry whose row's asset bits (`held`, by row) meet `moved`."""
        if moved:
            n = self.size
            hit = np.bitwise_and(held.take(self.rows[:n]), np.uint64(moved))
            self.stale[:n] |= hit.astype(np.bool_)

    def uncount(self, entries: npt.NDArray[np.intp], protocol: npt.NDArray[np.int32],
                width: int) -> None:
        """Take away from the tally the levels of `entries` (about to be recomputed) and of
        the entries discarded since the last pass; `protocol` by book row. When most entries
        are to be recomputed (a price moved), the tally is dropped instead: counting all
        afresh costs one pass, taking away and counting again two."""
        tally = self.tally
        if tally is None:
            return
        if entries.size * AFRESH > self.size:
            self.tally = None
            self._gone.clear()
            return
        if self._gone:
            keys, codes, levels = zip(*self._gone, strict=True)
            self._gone.clear()
            tally.add(np.array(keys, np.int64), np.array(levels).T,
                      np.array(codes, np.int32), width, -1)
        tally.add(self.key[entries], self.values[:, entries],
                  protocol[self.rows[entries]], width, -1)
        self.key[entries] = UNCOUNTED

    def count(self, entries: npt.NDArray[np.intp] | slice, protocol: npt.NDArray[np.int32],
              width: int) -> None:
        """Count in the tally the freshly computed levels of `entries`."""
        tally = self.tally
        if tally is None:
            return
        keys = tally.keys_of(self.values[PRICE, entries], self.side[entries])
        tally.add(keys, self.values[:, entries], protocol[self.rows[entries]], width, 1)
        self.key[entries] = keys

    def recount(self, grid: ClusterGrid, protocol: npt.NDArray[np.int32],
                width: int) -> ClusterTally:
        """A fresh tally on `grid` of every entry (all fresh: the book has just refreshed)."""
        tally = self.tally = ClusterTally(grid)
        self._gone.clear()
        self.count(slice(0, self.size), protocol, width)
        return tally
