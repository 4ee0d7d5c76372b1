"""The columnar position book: one partition's positions in numpy arrays, so that a price tick
recomputes the liquidation prices through an asset in one vectorised pass.

Layout: one row per position (id, protocol, close factor, recovery, asset bits, where its legs
are); the legs live in a LegArena (collateral legs first, then debt legs, in snapshot order; a
perp is one leg); each asset has an AssetIndex of the rows holding it with their levels through
it cached.
Rows are kept dense: removing a row moves the last row into it; every structure grows by a
constant factor, so upsert and remove are amortised O(1).

A level through asset k never depends on k's own price, only on the position and the prices of
its other assets. A pass for k therefore recomputes only the entries whose position changed or
one of whose other assets' prices moved since k's last pass, and copies the cache out.

Liquidation prices are summed slot by slot in the scalar functions' order, so they equal
monitor.risk.valuation's bit for bit; the book always uses the generic formula (its gap to the
protocols' own arithmetic is documented in monitor.risk.aave_v3 and monitor.risk.morpho_blue).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from monitor.risk.asset_index import AssetIndex
from monitor.risk.clusters import ClusterGrid, ClusterMap, LevelColumns
from monitor.risk.flow_kernels import liquidation_flows
from monitor.risk.legs import GROWTH, LegArena, LegValues, by_count, distinct_pairs
from monitor.risk.level_kernels import (
    CHUNK,
    HealthTerms,
    LendingKernel,
    collateral_values,
    perp_levels,
)
from monitor.risk.positions import PerpPosition, Position
from monitor.risk.recovery import recovery

FloatArray = npt.NDArray[np.float64]
RowArray = npt.NDArray[np.int32]
INITIAL_CAPACITY: Final = 1024
HIGH_BIT: Final = 63  # assets with codes from 63 up share the last bit of a row's asset bits


@dataclass(frozen=True)
class Liquidations:
    """Liquidating some rows: net base units sold per asset, USD taken per protocol, and the
    debt a full liquidation leaves uncovered per protocol (where any)."""

    sold: dict[str, float]
    usd_by_protocol: dict[str, float]
    shortfall_by_protocol: dict[str, float]


@dataclass(frozen=True)
class BookLevels(LevelColumns):
    """Every book position's liquidation through one asset, as parallel arrays (one entry per
    position holding the asset, in the asset index's order).

    price is nan and side 0 where the position has no level through the asset (or lacks a
    price, listed in `missing`); side +1 long (sells `quantity` base units as the price falls
    to `price`), −1 short (buys them as it rises). protocol holds codes into `protocols`.
    """

    asset: str
    missing: frozenset[str]
    id_source: npt.NDArray[np.object_] = field(repr=False)
    rows: RowArray = field(repr=False)

    def __len__(self) -> int:
        """Entries (positions holding the asset when it was computed)."""
        return int(self.price.size)

    @cached_property
    def ids(self) -> npt.NDArray[np.object_]:
        """Position ids, in the order of the arrays (gathered on first use: the book copies its
        id column before changing it, so `id_source` is never modified)."""
        return self.id_source[self.rows]


def asset_bit(code: int) -> int:
    """The bit standing for an asset code in a row's asset bits."""
    return 1 << min(code, HIGH_BIT)


class PositionBook:
    """Positions of one partition in columnar arrays, keyed by position id."""

    def __init__(self, capacity: int = INITIAL_CAPACITY, width: int = 1) -> None:
        cap = max(int(capacity), 1)
        self._n = 0
        self._width = max(int(width), 1)
        self._row: dict[str, int] = {}  # the book keeps no Position objects: arrays only
        self._asset_code: dict[str, int] = {}
        self._asset_names: list[str] = []
        self._protocol_code: dict[str, int] = {}
        self._protocol_names: list[str] = []
        self._indexes: list[AssetIndex] = []
        self._shared = np.zeros((8, 8), dtype=np.int64)  # positions holding both assets
        self._ids = np.empty(cap, dtype=object)
        self._ids_shared = False  # a BookLevels may read _ids: copy it before changing it
        self._perp = np.zeros(cap, dtype=np.bool_)
        self._protocol = np.zeros(cap, dtype=np.int32)
        self._close = np.zeros(cap)
        self._recovery = np.zeros(cap)  # share of the collateral a full liquidation recovers
        self._held = np.zeros(cap, dtype=np.uint64)  # asset bits
        self._start = np.zeros(cap, dtype=np.int64)  # first leg in the arena
        self._count = np.zeros(cap, dtype=np.int32)  # legs
        self._legs = LegArena(cap * self._width)
        self.revision = 0  # counts changes: what a caller derived from the rows is stale after
        self._terms: tuple[int, HealthTerms] | None = None  # made at that revision

    @classmethod
    def from_positions(cls, positions: Iterable[Position]) -> PositionBook:
        """A book holding `positions` (later duplicates of an id replace earlier ones)."""
        book = cls()
        book.extend(positions)
        return book

    def __len__(self) -> int:
        """Positions held."""
        return self._n

    def __contains__(self, position_id: object) -> bool:
        """Whether a position with this id is held."""
        return position_id in self._row

    @property
    def width(self) -> int:
        """The most legs any position has had."""
        return self._width

    def assets_of(self, position_id: str) -> frozenset[str]:
        """The assets the position with this id holds (empty when it is not held)."""
        row = self._row.get(position_id)
        if row is None:
            return frozenset()
        start = int(self._start[row])
        codes = self._legs.code[start:start + int(self._count[row])].tolist()
        return frozenset(self._asset_names[code] for code in codes)

    def assets(self) -> frozenset[str]:
        """Every asset some held position touches."""
        return frozenset(name for name, index in zip(self._asset_names, self._indexes,
                                                     strict=True) if index.size)

    def sharing(self, asset: str) -> frozenset[str]:
        """The other assets held by some position that holds `asset`: the assets whose price
        moves its levels."""
        code = self._asset_code.get(asset)
        if code is None:
            return frozenset()
        known = len(self._asset_names)
        return frozenset(self._asset_names[other] for other in
                         np.flatnonzero(self._shared[code, :known] > 0).tolist()
                         if other != code)

    def ids(self) -> npt.NDArray[np.object_]:
        """Position ids in row order (the order of health_factors)."""
        return self._ids[: self._n].copy()

    def ids_at(self, rows: npt.NDArray[np.intp] | list[int]) -> list[str]:
        """The ids of these rows (valid until `revision` changes; no copy of the whole column)."""
        found: list[str] = self._ids[rows].tolist()
        return found

    def by_protocol(self, value: Callable[[str], float]) -> FloatArray:
        """Each row's `value` of its protocol's name, in ids() order."""
        codes = np.array([value(name) for name in self._protocol_names] or [0.0])
        return codes.take(self._protocol[: self._n])

    def rows_of(self, ids: Iterable[str]) -> npt.NDArray[np.intp]:
        """The rows of the held positions among `ids`."""
        found = [row for pid in ids if (row := self._row.get(pid)) is not None]
        return np.array(found, dtype=np.intp)

    def liquidations(self, rows: npt.NDArray[np.intp], prices: Mapping[str, float]
                     ) -> Liquidations:
        """What liquidating these rows at `prices` trades and is worth (monitor.risk.
        flow_kernels: the legs' USD prices)."""
        flows = liquidation_flows(self._legs, self._start[rows], self._count[rows],
                                  self._perp[rows], self._close[rows],
                                  self.price_table(prices), len(self._asset_names))
        protocols = self._protocol[rows]
        shortfall = np.maximum(flows.debt - self._recovery[rows] * flows.collateral, 0.0)
        return Liquidations(
            sold={self._asset_names[c]: float(flows.sold[c]) for c in flows.touched.tolist()},
            usd_by_protocol=self._by_protocol(protocols, flows.usd),
            shortfall_by_protocol=self._by_protocol(protocols[shortfall > 0],
                                                    shortfall[shortfall > 0]))

    def _by_protocol(self, protocols: npt.NDArray[np.int32],
                     usd: FloatArray) -> dict[str, float]:
        """USD summed per protocol name (only protocols present)."""
        sums = np.bincount(protocols, usd, minlength=len(self._protocol_names))
        return {self._protocol_names[c]: float(sums[c])
                for c in np.unique(protocols).tolist()}

    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (capacity included)."""
        rows = (self._ids, self._perp, self._protocol, self._close, self._recovery, self._held,
                self._start, self._count, self._shared)
        return (sum(int(a.nbytes) for a in rows) + self._legs.nbytes()
                + sum(index.nbytes() for index in self._indexes))

    def _code(self, asset: str) -> int:
        """The asset's code, allocating one (and its index) on first sight."""
        try:
            return self._asset_code[asset]
        except KeyError:
            pass
        code = self._asset_code[asset] = len(self._asset_names)
        self._asset_names.append(asset)
        self._indexes.append(AssetIndex())
        if code == self._shared.shape[0]:
            shared = np.zeros((2 * code, 2 * code), dtype=np.int64)
            shared[:code, :code] = self._shared
            self._shared = shared
        return code

    def _protocol_of(self, protocol: str) -> int:
        """The protocol's code, allocating one on first sight."""
        code = self._protocol_code.get(protocol)
        if code is None:
            code = self._protocol_code[protocol] = len(self._protocol_names)
            self._protocol_names.append(protocol)
        return code

    def _legs_of(self, position: Position) -> list[LegValues]:
        """Arena legs of a position: collateral legs, then debt legs; a perp is one leg."""
        if isinstance(position, PerpPosition):
            return [(self._code(position.asset), position.size, position.entry_price,
                     position.margin, position.maintenance_margin_ratio)]
        code = self._code
        legs = [(code(leg.asset), leg.amount * leg.liquidation_threshold, leg.amount, 0.0,
                 leg.liquidation_bonus) for leg in position.collateral]
        legs += [(code(leg.asset), -leg.amount, 0.0, leg.amount, 0.0) for leg in position.debt]
        return legs

    def _grow(self, capacity: int) -> None:
        """Reallocate the row arrays to `capacity` rows."""
        n = self._n

        def rows(a: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            grown = np.full(capacity, fill, dtype=a.dtype)
            grown[:n] = a[:n]
            return grown

        self._ids = rows(self._ids, None)
        self._perp = rows(self._perp, False)
        self._protocol = rows(self._protocol, 0)
        self._close = rows(self._close, 0.0)
        self._recovery = rows(self._recovery, 0.0)
        self._held = rows(self._held, 0)
        self._start = rows(self._start, 0)
        self._count = rows(self._count, 0)

    def _own_ids(self) -> None:
        """Copy the id column if a BookLevels still reads it (copy on write)."""
        if self._ids_shared:
            self._ids = self._ids.copy()
            self._ids_shared = False

    def upsert(self, position: Position) -> None:
        """Add the position, or replace the one with its id (amortised O(1))."""
        self.revision += 1
        pid = position.position_id
        legs = self._legs_of(position)
        row = self._row.get(pid)
        if row is None:
            if self._n == self._ids.size:
                self._grow(int(GROWTH * self._n) + 1)
            self._own_ids()
            row = self._n
            self._n += 1
            self._row[pid] = row
            self._ids[row] = pid
            self._count[row] = 0
            start = self._legs.allocate(len(legs), self._start[:row + 1],
                                        self._count[:row + 1])
        else:
            self._unlink(row)
            start = int(self._start[row])
            if len(legs) != self._count[row]:
                self._legs.release(int(self._count[row]))
                self._count[row] = 0
                start = self._legs.allocate(len(legs), self._start[:self._n],
                                            self._count[:self._n])
        self._legs.write(start, legs)
        self._start[row] = start
        self._count[row] = len(legs)
        self._perp[row] = isinstance(position, PerpPosition)
        self._protocol[row] = self._protocol_of(position.protocol)
        self._close[row] = 1.0 if isinstance(position, PerpPosition) else position.close_factor
        self._recovery[row] = recovery(position)
        self._width = max(self._width, len(legs))
        self._link(row, [leg[0] for leg in legs])

    def extend(self, positions: Iterable[Position]) -> None:
        """Add or replace many positions (later duplicates of an id replace earlier ones); new
        ids are laid out in a few vectorised steps instead of one upsert each."""
        fresh: dict[str, Position] = {}
        for position in positions:
            if position.position_id in self._row:
                self.upsert(position)
            else:
                fresh[position.position_id] = position
        if fresh:
            self._append(list(fresh.values()))

    def _append(self, new: list[Position]) -> None:
        """Lay out positions with ids not yet held after the last row."""
        self.revision += 1
        legs: list[LegValues] = []
        sizes: list[int] = []
        for position in new:
            these = self._legs_of(position)
            legs += these
            sizes.append(len(these))
        counts = np.array(sizes, dtype=np.int32)
        table = np.fromiter(itertools.chain.from_iterable(legs), dtype=np.float64,
                            count=5 * len(legs)).reshape(len(legs), 5)
        codes = table[:, 0].astype(np.int32)
        n, m = self._n, len(new)
        if n + m > self._ids.size:
            self._grow(n + m)
        self._own_ids()
        self._count[n:n + m] = 0
        start = self._legs.allocate(codes.size, self._start[:n], self._count[:n], growth=1.0)
        self._legs.code[start:start + codes.size] = codes
        self._legs.values[:, start:start + codes.size] = table[:, 1:].T
        rows = slice(n, n + m)
        self._start[rows] = start + np.cumsum(counts) - counts
        self._count[rows] = counts
        self._ids[rows] = [position.position_id for position in new]
        self._row.update((position.position_id, n + i) for i, position in enumerate(new))
        self._perp[rows] = [isinstance(position, PerpPosition) for position in new]
        self._protocol[rows] = [self._protocol_of(position.protocol) for position in new]
        self._close[rows] = [1.0 if isinstance(position, PerpPosition)
                             else position.close_factor for position in new]
        self._recovery[rows] = [recovery(position) for position in new]
        self._n = n + m
        self._width = max(self._width, int(counts.max()))
        self._link_all(n, codes, counts, start)

    def _link_all(self, first_row: int, codes: npt.NDArray[np.int32],
                  counts: npt.NDArray[np.int32], start: int) -> None:
        """_link for consecutive new rows whose legs start at `start`."""
        owner, pair_code, pair_of_leg = distinct_pairs(codes, counts, len(self._asset_names))
        entry_of_pair = np.empty(owner.size, dtype=np.int32)
        order = np.argsort(pair_code, kind="stable")
        bounds = np.searchsorted(pair_code[order], np.arange(len(self._asset_names) + 1))
        for code, (lo, hi) in enumerate(itertools.pairwise(bounds.tolist())):
            if hi > lo:
                pairs = order[lo:hi]
                first = self._indexes[code].append(first_row + owner[pairs])
                entry_of_pair[pairs] = np.arange(first, first + hi - lo, dtype=np.int32)
        self._legs.entry[start:start + codes.size] = entry_of_pair[pair_of_leg]
        bits = np.left_shift(np.uint64(1), np.minimum(pair_code, HIGH_BIT).astype(np.uint64))
        held = np.zeros(counts.size, dtype=np.uint64)
        np.bitwise_or.at(held, owner, bits)
        self._held[first_row:first_row + counts.size] = held
        for gap in range(1, int(np.bincount(owner).max(initial=0))):
            same = owner[:-gap] == owner[gap:]
            a, b = pair_code[:-gap][same], pair_code[gap:][same]
            np.add.at(self._shared, (a, b), 1)
            np.add.at(self._shared, (b, a), 1)
        np.add.at(self._shared, (pair_code, pair_code), 1)

    def _link(self, row: int, codes: list[int]) -> None:
        """Give the row an entry in the index of each asset it holds (stale until a pass)."""
        entries: dict[int, int] = {}
        for code in codes:
            if code not in entries:
                entries[code] = self._indexes[code].add(row)
        start = int(self._start[row])
        self._legs.entry[start:start + len(codes)] = [entries[c] for c in codes]
        bits = 0
        for a in entries:
            bits |= asset_bit(a)
            for b in entries:
                self._shared[a, b] += 1
        self._held[row] = bits

    def _entries(self, row: int) -> dict[int, int]:
        """{asset code: entry in its index} of a row."""
        start = int(self._start[row])
        stop = start + int(self._count[row])
        return dict(zip(self._legs.code[start:stop].tolist(),
                        self._legs.entry[start:stop].tolist(), strict=True))

    def _unlink(self, row: int) -> None:
        """Drop the row's entries from the asset indexes."""
        entries = self._entries(row)
        protocol = int(self._protocol[row])
        for code, entry in entries.items():
            moved = self._indexes[code].discard(entry, protocol)
            if moved >= 0:
                start = int(self._start[moved])
                stop = start + int(self._count[moved])
                slots = self._legs.entry[start:stop]
                slots[self._legs.code[start:stop] == code] = entry
        for a in entries:
            for b in entries:
                self._shared[a, b] -= 1

    def remove(self, position_id: str) -> bool:
        """Remove the position with this id (the last row moves into its place); True if held."""
        row = self._row.pop(position_id, None)
        if row is None:
            return False
        self.revision += 1
        self._own_ids()
        self._unlink(row)
        self._legs.release(int(self._count[row]))
        last = self._n - 1
        if row != last:
            moved = self._ids[last]
            self._row[moved] = row
            self._ids[row] = moved
            for a in (self._perp, self._protocol, self._close, self._recovery, self._held,
                      self._start, self._count):
                a[row] = a[last]
            for code, entry in self._entries(row).items():
                self._indexes[code].rows[entry] = row
        self._ids[last] = None
        self._count[last] = 0
        self._n = last
        return True

    def price_table(self, prices: Mapping[str, float]) -> FloatArray:
        """Price by asset code (nan when unknown), plus a trailing 0.0 that the empty code
        (-1) reads."""
        return np.array([*(prices.get(name, math.nan) for name in self._asset_names), 0.0])

    def health_terms(self) -> HealthTerms:
        """Every row's legs gathered for health factors at many price vectors (valid until
        `revision` changes; made once per revision: a pass's scenarios all read it)."""
        if self._terms is None or self._terms[0] != self.revision:
            n = self._n
            self._terms = self.revision, HealthTerms(self._legs, self._start[:n],
                                                     self._count[:n], self._perp[:n])
        return self._terms[1]

    def health_factors(self, prices: Mapping[str, float]) -> FloatArray:
        """Generic health factor of every row, in ids() order (inf without debt, nan with a
        price missing)."""
        return self.health_terms().factors(self.price_table(prices))

    def collateral_values(self, prices: Mapping[str, float]) -> FloatArray:
        """Generic collateral USD of every row, in ids() order (nan with a price missing, inf
        for a perp), to filter on before decoding positions one by one."""
        n = self._n
        return collateral_values(self._legs, self._start[:n], self._count[:n], self._perp[:n],
                                 self.price_table(prices))

    def rows_health(self, rows: npt.NDArray[np.intp], prices: Mapping[str, float]
                    ) -> tuple[FloatArray, FloatArray]:
        """(health factor, collateral USD) of these rows only, as health_factors and
        collateral_values give them: a scan of the positions that changed costs them, not
        the book."""
        table = self.price_table(prices)
        starts, counts, perp = self._start[rows], self._count[rows], self._perp[rows]
        return (HealthTerms(self._legs, starts, counts, perp).factors(table),
                collateral_values(self._legs, starts, counts, perp, table))

    def _moved_bits(self, code: int, index: AssetIndex, table: FloatArray) -> int:
        """Asset bits of the assets sharing a position with `code` whose price differs from
        the one the index was last brought up to date with (nan equal to nan)."""
        known = max(index.stamp.size - 1, 0)  # assets coded after the stamp: rows are stale
        old, new = index.stamp[:known], table[:known]
        with np.errstate(invalid="ignore"):
            moved = ~((old == new) | (np.isnan(old) & np.isnan(new)))
        moved &= self._shared[code, :known] > 0
        if code < known:
            moved[code] = False
        bits = 0
        for other in np.flatnonzero(moved).tolist():
            bits |= asset_bit(other)
        return bits

    def _refresh(self, code: int, index: AssetIndex, table: FloatArray) -> None:
        """Bring the index's cached levels up to date with `table`."""
        index.mark_moved(self._held, self._moved_bits(code, index, table))
        stale = np.flatnonzero(index.stale[: index.size])
        index.stamp = table
        width = len(self._protocol_names)
        index.uncount(stale, self._protocol, width)
        if stale.size:
            self._compute(code, index, table, stale)
            index.count(stale, self._protocol, width)

    def _compute(self, code: int, index: AssetIndex, table: FloatArray,
                 stale: npt.NDArray[np.intp]) -> None:
        """Recompute the cached levels of the `stale` entries at `table`."""
        rows = index.rows[stale]
        perp = self._perp[rows]
        lending = np.flatnonzero(~perp)
        other = table.copy()
        other[code] = 0.0
        is_k = np.zeros(table.size)
        is_k[code] = 1.0
        kernel = LendingKernel(other, is_k, min(CHUNK, lending.size))
        for count, group in by_count(self._count[rows[lending]]):
            chosen = lending[group]
            for lo in range(0, chosen.size, CHUNK):
                part = chosen[lo:lo + CHUNK]
                held = rows[part]
                out, side = kernel.run(self._legs, self._start[held], count, self._close[held],
                                       self._recovery[held])
                index.values[:, stale[part]] = out
                index.side[stale[part]] = side
        perps = np.flatnonzero(perp)
        if perps.size:
            out, side = perp_levels(self._legs.values.take(self._start[rows[perps]], axis=1))
            index.values[:, stale[perps]] = out
            index.side[stale[perps]] = side
        index.stale[stale] = False

    def liquidation_prices(self, asset: str, prices: Mapping[str, float]) -> BookLevels:
        """The liquidation through `asset` (other prices fixed) of every position holding it,
        in one vectorised pass; positions lacking another asset's price get none."""
        table = self.price_table(prices)
        code = self._asset_code.get(asset)
        index = AssetIndex(0) if code is None else self._indexes[code]
        if code is not None:
            self._refresh(code, index, table)
        m = index.size
        rows = index.rows[:m].copy()
        price, quantity, debt_usd, equity, net = index.values[:, :m].copy()
        with np.errstate(invalid="ignore"):
            value_usd = quantity * price
        unknown = np.flatnonzero(np.isnan(table)).tolist()
        missing = frozenset(self._asset_names[u] for u in unknown
                            if code is not None and u != code and self._shared[code, u] > 0)
        self._ids_shared = True
        return BookLevels(price=price, side=index.side[:m].copy(), quantity=quantity,
                          value_usd=value_usd, debt_usd=debt_usd, equity_base_usd=equity,
                          net_units=net, protocol=self._protocol.take(rows),
                          protocols=tuple(self._protocol_names), asset=asset,
                          missing=missing, id_source=self._ids, rows=rows)

    def clusters(self, asset: str, prices: Mapping[str, float],
                 grid: ClusterGrid | None = None) -> ClusterMap:
        """The asset's liquidation clusters over this book's positions (from the index's
        running sums: the cost of the entries changed since the last call)."""
        grid = grid or ClusterGrid()
        code = self._asset_code.get(asset)
        if code is None:
            return ClusterMap(asset, grid)
        index = self._indexes[code]
        self._refresh(code, index, self.price_table(prices))
        tally = index.tally
        if tally is None or tally.grid != grid or tally.worn(index.size):
            tally = index.recount(grid, self._protocol, len(self._protocol_names))
        return tally.cluster_map(asset, tuple(self._protocol_names))
