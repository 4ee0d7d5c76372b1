"""Running cluster sums of one asset's index: an entry's level is counted when it is computed
and taken away when it is recomputed or leaves, so a partition's clusters after a few changes
cost those changes, not a pass over the whole book.

Sums kept by adding and taking away drift from a fresh sum by rounding; the book counts every
entry afresh (in entry order, as aggregate sums them, so bit for bit equal to it) once as many
entries have been taken away as the index holds: amortised O(1) per change.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.risk.clusters import ClusterGrid, ClusterMap, dense_keys, key_sides, level_keys
from monitor.risk.level_fields import DEBT_USD, EQUITY_BASE, FIELDS, NET_UNITS, PRICE, QUANTITY

FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.int64]
UNCOUNTED: Final = np.iinfo(np.int64).min  # the key of an entry no sum holds


class ClusterTally:
    """Per key (bucket × 2 + 1 for a short): positions, their five level sums and value by
    protocol, over the counted entries of one asset index on one grid."""

    def __init__(self, grid: ClusterGrid) -> None:
        self.grid = grid
        self.keys: KeyArray = np.zeros(0, np.int64)  # ascending: bucket order, long first
        self.positions: KeyArray = np.zeros(0, np.int64)
        self.sums: FloatArray = np.zeros((FIELDS, 0))  # quantity, value, debt, equity, net units
        self.by_protocol: FloatArray = np.zeros((0, 0))
        self.taken = 0  # entries taken away since the sums were made from scratch
        self.exact = True  # False once a non-finite level was taken away (inf − inf)

    def worn(self, entries: int) -> bool:
        """Whether the sums should be made afresh (as many entries taken away as held)."""
        return not self.exact or self.taken > max(entries, 64)

    def keys_of(self, price: FloatArray, side: npt.NDArray[np.int8]) -> KeyArray:
        """Each level's key (UNCOUNTED where it has none: side 0)."""
        keys = np.full(price.size, UNCOUNTED, dtype=np.int64)
        has = np.flatnonzero(side != 0)
        keys[has] = level_keys(self.grid.buckets(price[has]), side[has])
        return keys

    def add(self, keys: KeyArray, levels: FloatArray, protocols: npt.NDArray[np.int32],
            width: int, sign: int) -> None:
        """Count (sign +1) or take away (−1) levels (rows: level_fields) under `keys`,
        each in its protocol (one of `width` codes); UNCOUNTED keys are skipped."""
        kept = np.flatnonzero(keys != UNCOUNTED)
        if not kept.size:
            return
        if kept.size < keys.size:
            keys, levels, protocols = keys[kept], levels[:, kept], protocols[kept]
        slots = self._slots(keys, width)
        quantity = levels[QUANTITY]
        value = quantity * levels[PRICE]
        size, wide = self.keys.size, self.by_protocol.shape[1]
        change = np.add if sign > 0 else np.subtract
        for row, column in enumerate((quantity, value, levels[DEBT_USD], levels[EQUITY_BASE],
                                      levels[NET_UNITS])):
            change(self.sums[row], np.bincount(slots, column, minlength=size),
                   out=self.sums[row])
        change(self.by_protocol, np.bincount(slots * wide + protocols, value,
                                             minlength=size * wide).reshape(size, wide),
               out=self.by_protocol)
        change(self.positions, np.bincount(slots, minlength=size), out=self.positions)
        if sign < 0:
            self.taken += kept.size
            self.exact = self.exact and bool(np.isfinite(levels).all())
            empty = self.positions == 0
            self.sums[:, empty] = 0.0
            self.by_protocol[empty] = 0.0

    def _slots(self, keys: KeyArray, width: int) -> npt.NDArray[np.intp]:
        """The slot of each key, making room for keys and protocols not seen before."""
        if width > self.by_protocol.shape[1]:
            grown = np.zeros((self.keys.size, width))
            grown[:, :self.by_protocol.shape[1]] = self.by_protocol
            self.by_protocol = grown
        if not self.keys.size:  # a first count: the keys' own slots, as aggregate finds them
            self.keys, slots = dense_keys(keys)
            self.positions = np.zeros(self.keys.size, np.int64)
            self.sums = np.zeros((FIELDS, self.keys.size))
            self.by_protocol = np.zeros((self.keys.size, width))
            return slots
        slots = np.searchsorted(self.keys, keys)
        known = slots < self.keys.size
        known[known] = self.keys[slots[known]] == keys[known]
        if known.all():
            return slots
        merged = np.union1d(self.keys, keys[~known])
        moved = np.searchsorted(merged, self.keys)
        positions = np.zeros(merged.size, np.int64)
        sums = np.zeros((FIELDS, merged.size))
        by_protocol = np.zeros((merged.size, self.by_protocol.shape[1]))
        positions[moved], sums[:, moved], by_protocol[moved] = (self.positions, self.sums,
                                                                self.by_protocol)
        self.keys, self.positions, self.sums, self.by_protocol = (merged, positions, sums,
                                                                  by_protocol)
        return np.searchsorted(merged, keys)

    def cluster_map(self, asset: str, protocols: tuple[str, ...]) -> ClusterMap:
        """The counted levels as the asset's cluster map (aggregate's form)."""
        live = np.flatnonzero(self.positions > 0)
        if not live.size:
            return ClusterMap(asset, self.grid)
        split = np.zeros((live.size, len(protocols)))
        split[:, :self.by_protocol.shape[1]] = self.by_protocol[live]
        quantity, value, debt, equity, net = self.sums[:, live]
        return ClusterMap(asset, self.grid, *key_sides(self.keys[live]), quantity, value, debt,
                          equity, net, self.positions[live], protocols, split)
