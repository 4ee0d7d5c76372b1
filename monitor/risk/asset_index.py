"""One asset's entries in the position book: the rows of the positions holding it and their
liquidation levels through it, cached.

A level through asset k depends on the position and on the prices of its OTHER assets, never on
k's own price, so an entry stays valid until its position changes (it is then marked stale) or
the price of another asset it holds moves (the book marks those entries stale from `stamp`, the
prices the cache was last brought up to date with). A pass recomputes only the stale entries.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.risk.legs import GROWTH

INITIAL_ENTRIES: Final = 64
# cached level fields, rows of AssetIndex.values
PRICE, QUANTITY, DEBT_USD, EQUITY_BASE, NET_UNITS = range(5)


class AssetIndex:
    """Entries of one asset: dense columns; removing an entry moves the last one into it."""

    def __init__(self, capacity: int = INITIAL_ENTRIES) -> None:
        cap = max(int(capacity), 1)
        self.size = 0
        self.rows = np.empty(cap, dtype=np.int32)  # book row of each entry
        self.stale = np.ones(cap, dtype=np.bool_)  # level must be recomputed
        self.side = np.zeros(cap, dtype=np.int8)
        self.values = np.empty((5, cap))  # PRICE, QUANTITY, DEBT_USD, EQUITY_BASE, NET_UNITS
        self.stamp = np.empty(0)  # prices by asset code the fresh entries were computed with

    def nbytes(self) -> int:
        """Bytes of the columns (capacity included)."""
        return int(self.rows.nbytes + self.stale.nbytes + self.side.nbytes
                   + self.values.nbytes + self.stamp.nbytes)

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` entries."""
        if capacity <= self.rows.size:
            return
        n = self.size
        rows = np.empty(capacity, dtype=np.int32)
        stale = np.ones(capacity, dtype=np.bool_)
        side = np.zeros(capacity, dtype=np.int8)
        values = np.empty((5, capacity))
        rows[:n], stale[:n], side[:n], values[:, :n] = (self.rows[:n], self.stale[:n],
                                                        self.side[:n], self.values[:, :n])
        self.rows, self.stale, self.side, self.values = rows, stale, side, values

    def add(self, row: int) -> int:
        """A stale entry for `row`; its index."""
        if self.size == self.rows.size:
            self.reserve(int(GROWTH * self.size) + 1)
        entry = self.size
        self.rows[entry] = row
        self.stale[entry] = True
        self.size += 1
        return entry

    def append(self, rows: npt.NDArray[np.int64]) -> int:
        """Stale entries for many rows (room for exactly them); the first one's index."""
        first = self.size
        self.reserve(first + rows.size)
        self.rows[first:first + rows.size] = rows
        self.stale[first:first + rows.size] = True
        self.size += rows.size
        return first

    def discard(self, entry: int) -> int:
        """Remove an entry; the last entry moves into its place: returns that entry's row, or
        -1 when the removed entry was the last."""
        last = self.size - 1
        self.size = last
        if entry == last:
            return -1
        self.rows[entry] = self.rows[last]
        self.stale[entry] = self.stale[last]
        self.side[entry] = self.side[last]
        self.values[:, entry] = self.values[:, last]
        return int(self.rows[entry])

    def mark_moved(self, held: npt.NDArray[np.uint64], moved: int) -> None:
        """Mark stale every entry whose row's asset bits (`held`, by row) meet `moved`."""
        if moved:
            n = self.size
            hit = np.bitwise_and(held.take(self.rows[:n]), np.uint64(moved))
            self.stale[:n] |= hit.astype(np.bool_)
