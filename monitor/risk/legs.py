"""The position book's leg arena: every position's legs stored contiguously in shared numpy
columns, so memory follows the legs actually held (not the widest position) and a pass gathers
any set of positions' legs slot by slot, in snapshot order.

A leg holds its asset code, four numbers and the index of its asset's entry in the book's
per-asset index. Lending legs: amount × LT (collateral) or −amount (debt), the collateral
amount, the debt amount, the collateral bonus. A perp is one leg: size, entry price, margin,
maintenance ratio. A rewritten position whose leg count changes takes a new region; the old one
becomes garbage, reclaimed when the arena runs out of room (amortised O(1)).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CountArray = npt.NDArray[np.int32]
EMPTY: Final = -1
GROWTH: Final = 1.5
# the four numbers of a lending leg (a perp leg: size, entry price, margin, maintenance ratio)
WEIGHTED, COLLATERAL, DEBT, BONUS = range(4)
LegValues = tuple[int, float, float, float, float]  # asset code and the four numbers


class LegArena:
    """Legs of every position of a book, one region of consecutive slots per position."""

    def __init__(self, capacity: int) -> None:
        cap = max(int(capacity), 16)
        self.code = np.full(cap, EMPTY, dtype=np.int32)
        self.values = np.zeros((4, cap))
        self.entry = np.full(cap, EMPTY, dtype=np.int32)  # index of the leg's asset entry
        self.end = 0  # first never-used slot
        self.garbage = 0  # slots of released regions

    def nbytes(self) -> int:
        """Bytes of the columns (capacity included)."""
        return int(self.code.nbytes + self.values.nbytes + self.entry.nbytes)

    def write(self, start: int, legs: list[LegValues]) -> None:
        """Store legs at start, start + 1, …"""
        if not legs:
            return
        stop = start + len(legs)
        codes, weighted, collateral, debt, bonus = zip(*legs, strict=True)
        self.code[start:stop] = codes
        self.values[:, start:stop] = (weighted, collateral, debt, bonus)

    def allocate(self, count: int, starts: IntArray, counts: CountArray,
                 growth: float = GROWTH) -> int:
        """Start of a fresh region of `count` slots. When the arena is full it is rebuilt
        with only the live regions (`starts`/`counts` of every held position, updated in
        place), growing by `growth` when live legs need it."""
        if self.end + count > self.code.size:
            self._rebuild(count, starts, counts, growth)
        start = self.end
        self.end += count
        return start

    def release(self, count: int) -> None:
        """Mark a region as garbage."""
        self.garbage += count

    def _rebuild(self, count: int, starts: IntArray, counts: CountArray,
                 growth: float) -> None:
        """Compact live regions to the front, in position order, into columns with room for
        `count` more slots (times `growth`)."""
        sizes = counts.astype(np.int64)
        live = int(sizes.sum())
        cap = max(self.code.size, int(growth * (live + count)) + 1)
        new_starts = np.cumsum(sizes) - sizes
        source = np.arange(live, dtype=np.int64) + np.repeat(starts - new_starts, sizes)
        code = np.full(cap, EMPTY, dtype=np.int32)
        values = np.zeros((4, cap))
        entry = np.full(cap, EMPTY, dtype=np.int32)
        code[:live] = self.code[source]
        values[:, :live] = self.values[:, source]
        entry[:live] = self.entry[source]
        self.code, self.values, self.entry = code, values, entry
        starts[:] = new_starts
        self.end, self.garbage = live, 0

    def gather(self, starts: IntArray, slot: int) -> tuple[npt.NDArray[np.int32], FloatArray]:
        """(codes, values[4, m]) of slot `slot` of the positions starting at `starts`."""
        legs = starts + slot
        return self.code.take(legs), self.values.take(legs, axis=1)


def by_count(counts: CountArray) -> list[tuple[int, npt.NDArray[np.intp]]]:
    """Positions grouped by leg count: (count, their indices into `counts`, ascending), so a
    pass over a group reads exactly its legs."""
    present = np.flatnonzero(np.bincount(counts)) if counts.size else counts
    return [(count, np.flatnonzero(counts == count)) for count in present.tolist()]


def distinct_pairs(codes: npt.NDArray[np.int32], counts: CountArray,
                   n_codes: int) -> tuple[IntArray, IntArray, IntArray]:
    """The distinct (position, asset code) pairs of consecutive positions' legs, sorted by
    position then code: (position, code, pair of each leg)."""
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    keys = owner * max(n_codes, 1) + codes
    distinct, pair_of_leg = np.unique(keys, return_inverse=True)
    return (distinct // max(n_codes, 1), distinct % max(n_codes, 1),
            pair_of_leg.astype(np.int64))
