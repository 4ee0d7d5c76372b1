"""The columnar position book: one partition's positions in numpy arrays, so that a price tick
recomputes every liquidation price through an asset in one vectorised pass (DESIGN
"Vectorise the math").

Layout: each position is one row; its legs are `width` slots stored column-major (slot j of
every row is contiguous), collateral legs first, then debt legs, in snapshot order. A slot holds
the asset code, amount × LT (collateral) or −amount (debt), the collateral amount, the debt
amount and the collateral bonus. Perp rows reuse slot 0 for their asset, size, entry price,
margin and maintenance ratio (their lending figures are never read). Rows are kept dense:
removing a row moves the last row into it (O(1)); arrays double when full. The width grows to
the most legs any position has held.

A pass for asset k gathers the rows holding k, then works through them in cache-sized chunks
with preallocated buffers, reading prices from a per-call table indexed by asset code.

Liquidation prices are summed slot by slot in the scalar functions' order, so they equal
monitor.risk.valuation's bit for bit; the book always uses the generic formula (for Aave V3
positions its gap to the pool's own arithmetic is documented in monitor.risk.valuation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from monitor.risk.clusters import ClusterGrid, ClusterMap, aggregate
from monitor.risk.positions import LendingPosition, PerpPosition, Position

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
EMPTY: Final = -1
INITIAL_CAPACITY: Final = 1024
CHUNK: Final = 16384  # rows per vectorised pass: buffers stay in cache
# slot fields: weighted (amount × LT, or −amount for debt), collateral amount, debt amount, bonus
WEIGHTED, COLLATERAL, DEBT, BONUS = range(4)


@dataclass(frozen=True)
class BookLevels:
    """Every book position's liquidation through one asset, as parallel arrays in row order.

    price is nan and side 0 where the position has no level through the asset (or lacks a
    price, listed in `missing`); side +1 long (sells `quantity` base units as the price falls
    to `price`), −1 short (buys them as it rises). protocol holds codes into `protocols`.
    """

    asset: str
    price: FloatArray
    side: npt.NDArray[np.int8]
    quantity: FloatArray
    value_usd: FloatArray
    debt_usd: FloatArray
    equity_base_usd: FloatArray
    net_units: FloatArray
    protocol: IntArray
    protocols: tuple[str, ...]
    missing: frozenset[str]
    id_source: npt.NDArray[np.object_] = field(repr=False)
    rows: npt.NDArray[np.intp] = field(repr=False)

    def __len__(self) -> int:
        """Entries (positions holding the asset when it was computed)."""
        return int(self.price.size)

    @cached_property
    def ids(self) -> npt.NDArray[np.object_]:
        """Position ids, in the order of the arrays (gathered on first use: the book copies its
        id column before changing it, so `id_source` is never modified)."""
        return self.id_source[self.rows]


class PositionBook:
    """Positions of one partition in columnar arrays, keyed by position id."""

    def __init__(self, capacity: int = INITIAL_CAPACITY, width: int = 1) -> None:
        self._n = 0
        self._row: dict[str, int] = {}
        self._positions: list[Position] = []
        self._asset_code: dict[str, int] = {}
        self._asset_names: list[str] = []
        self._protocol_code: dict[str, int] = {}
        self._protocol_names: list[str] = []
        self._ids = np.empty(capacity, dtype=object)
        self._ids_shared = False  # a BookLevels may read _ids: copy it before changing it
        self._perp = np.zeros(capacity, dtype=np.bool_)
        self._legs = np.zeros(capacity, dtype=np.int16)  # slots in use
        self._protocol = np.zeros(capacity, dtype=np.int32)
        self._close = np.zeros(capacity)
        self._asset = np.full((width, capacity), EMPTY, dtype=np.int32)
        self._slots = np.zeros((4, width, capacity))

    @classmethod
    def from_positions(cls, positions: Iterable[Position]) -> PositionBook:
        """A book holding `positions` (later duplicates of an id replace earlier ones)."""
        book = cls()
        for position in positions:
            book.upsert(position)
        return book

    def __len__(self) -> int:
        """Positions held."""
        return self._n

    def __contains__(self, position_id: object) -> bool:
        """Whether a position with this id is held."""
        return position_id in self._row

    @property
    def width(self) -> int:
        """Leg slots per row (the most legs any position has had)."""
        return int(self._asset.shape[0])

    def get(self, position_id: str) -> Position | None:
        """The position with this id, or None."""
        row = self._row.get(position_id)
        return None if row is None else self._positions[row]

    def assets(self) -> frozenset[str]:
        """Every asset some held position touches."""
        held = np.unique(self._asset[:, : self._n])
        return frozenset(self._asset_names[c] for c in held.tolist() if c != EMPTY)

    def ids(self) -> npt.NDArray[np.object_]:
        """Position ids in row order (the order of health_factors and BookLevels)."""
        return self._ids[: self._n].copy()

    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (capacity included)."""
        arrays = (self._ids, self._perp, self._legs, self._protocol, self._close, self._asset,
                  self._slots)
        return sum(int(a.nbytes) for a in arrays)

    def _code(self, asset: str) -> int:
        """The asset's code, allocating one on first sight."""
        code = self._asset_code.get(asset)
        if code is None:
            code = self._asset_code[asset] = len(self._asset_names)
            self._asset_names.append(asset)
        return code

    def _protocol_of(self, protocol: str) -> int:
        """The protocol's code, allocating one on first sight."""
        code = self._protocol_code.get(protocol)
        if code is None:
            code = self._protocol_code[protocol] = len(self._protocol_names)
            self._protocol_names.append(protocol)
        return code

    def _grow(self, capacity: int, width: int) -> None:
        """Reallocate every array to at least `capacity` rows and `width` slots."""
        old_cap, old_width = self._close.size, self.width
        cap, wide = max(capacity, old_cap), max(width, old_width)
        n = self._n

        def rows(a: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            grown = np.full(cap, fill, dtype=a.dtype)
            grown[:n] = a[:n]
            return grown

        self._ids = rows(self._ids, None)
        self._perp = rows(self._perp, False)
        self._legs = rows(self._legs, 0)
        self._protocol = rows(self._protocol, 0)
        self._close = rows(self._close, 0.0)
        asset = np.full((wide, cap), EMPTY, dtype=np.int32)
        asset[:old_width, :n] = self._asset[:, :n]
        slots = np.zeros((4, wide, cap))
        slots[:, :old_width, :n] = self._slots[:, :, :n]
        self._asset, self._slots = asset, slots

    def _own_ids(self) -> None:
        """Copy the id column if a BookLevels still reads it (copy on write)."""
        if self._ids_shared:
            self._ids = self._ids.copy()
            self._ids_shared = False

    def upsert(self, position: Position) -> None:
        """Add the position, or replace the one with its id (amortised O(1))."""
        pid = position.position_id
        legs = 1 if isinstance(position, PerpPosition) else (
            len(position.collateral) + len(position.debt))
        row = self._row.get(pid)
        if row is None:
            if self._n == self._close.size or legs > self.width:
                self._grow(2 * self._close.size if self._n == self._close.size else 0, legs)
            self._own_ids()
            row = self._n
            self._n += 1
            self._row[pid] = row
            self._ids[row] = pid
            self._positions.append(position)
        else:
            if legs > self.width:
                self._grow(0, legs)
            self._positions[row] = position
        self._write(row, position)

    def _write(self, row: int, position: Position) -> None:
        """Fill a row's columns from a position."""
        self._protocol[row] = self._protocol_of(position.protocol)
        width = self.width
        codes = [EMPTY] * width
        fields = [[0.0] * width for _ in range(4)]
        if isinstance(position, PerpPosition):
            self._perp[row] = True
            self._close[row] = 1.0
            codes[0] = self._code(position.asset)
            for field, value in enumerate((position.size, position.entry_price,
                                           position.margin, position.maintenance_margin_ratio)):
                fields[field][0] = value
        else:
            self._perp[row] = False
            self._close[row] = position.close_factor
            self._write_lending(position, codes, fields)
        self._asset[:, row] = codes
        self._legs[row] = sum(c != EMPTY for c in codes)
        self._slots[:, :, row] = fields

    def _write_lending(self, position: LendingPosition, codes: list[int],
                       fields: list[list[float]]) -> None:
        """Slot values of a lending position: collateral legs, then debt legs."""
        for j, leg in enumerate(position.collateral):
            codes[j] = self._code(leg.asset)
            fields[WEIGHTED][j] = leg.amount * leg.liquidation_threshold
            fields[COLLATERAL][j] = leg.amount
            fields[BONUS][j] = leg.liquidation_bonus
        for j, dleg in enumerate(position.debt, start=len(position.collateral)):
            codes[j] = self._code(dleg.asset)
            fields[WEIGHTED][j] = -dleg.amount
            fields[DEBT][j] = dleg.amount

    def remove(self, position_id: str) -> bool:
        """Remove the position with this id (the last row moves into its place); True if held."""
        row = self._row.pop(position_id, None)
        if row is None:
            return False
        self._own_ids()
        last = self._n - 1
        if row != last:
            moved = self._ids[last]
            self._row[moved] = row
            self._ids[row] = moved
            self._positions[row] = self._positions[last]
            for a in (self._perp, self._legs, self._protocol, self._close):
                a[row] = a[last]
            self._asset[:, row] = self._asset[:, last]
            self._slots[:, :, row] = self._slots[:, :, last]
        self._ids[last] = None
        self._positions.pop()
        self._n = last
        return True

    def _price_table(self, prices: Mapping[str, float]) -> FloatArray:
        """Price by asset code (nan when unknown), plus a trailing 0.0 that empty slots
        (code -1) read."""
        return np.array([*(prices.get(name, math.nan) for name in self._asset_names), 0.0])

    def health_factors(self, prices: Mapping[str, float]) -> FloatArray:
        """Generic health factor of every row, in ids() order (inf without debt, nan with a
        price missing)."""
        table = self._price_table(prices)
        n = self._n
        weighted = np.zeros(n)
        debt = np.zeros(n)
        for j in range(self.width):
            px = table.take(self._asset[j, :n], mode="wrap")
            weighted += np.maximum(self._slots[WEIGHTED, j, :n], 0.0) * px
            debt += self._slots[DEBT, j, :n] * px
        with np.errstate(all="ignore"):
            hf = np.where(debt > 0, weighted / debt, np.where(np.isnan(debt), np.nan, np.inf))
        perps = np.flatnonzero(self._perp[:n])
        if perps.size:
            size, entry, margin, ratio = self._slots[:, 0, perps]
            p = table.take(self._asset[0, perps], mode="wrap")
            maintenance = ratio * np.abs(size) * p
            with np.errstate(all="ignore"):
                hf[perps] = np.where(maintenance > 0,
                                     (margin + size * (p - entry)) / maintenance, np.inf)
        return hf

    def _rows_holding(self, code: int) -> npt.NDArray[np.intp]:
        """Rows with a slot in asset `code`."""
        n = self._n
        held = np.zeros(n, dtype=np.bool_)
        hit = np.empty(n, dtype=np.bool_)
        for j in range(self.width):
            held |= np.equal(self._asset[j, :n], code, out=hit)
        return np.flatnonzero(held)

    def liquidation_prices(self, asset: str, prices: Mapping[str, float]) -> BookLevels:
        """The liquidation through `asset` (other prices fixed) of every position holding it,
        in one vectorised pass; positions lacking another asset's price get none."""
        code = self._asset_code.get(asset)
        rows = self._rows_holding(code) if code is not None else np.zeros(0, dtype=np.intp)
        table = self._price_table(prices)
        other = table.copy()
        if code is not None:
            other[code] = 0.0
        is_k = np.zeros(table.size)
        if code is not None:
            is_k[code] = 1.0
        # gather in row order (memory-friendly), then put the widest rows first so that the
        # chunks of narrow rows skip their empty slots
        order = np.argsort(-self._legs[rows], kind="stable")
        gathered = np.empty((4, self.width, rows.size))
        slots = np.empty_like(gathered)
        for f in range(4):
            for j in range(self.width):
                self._slots[f, j].take(rows, out=gathered[f, j])
                gathered[f, j].take(order, out=slots[f, j])
        rows = rows[order]
        legs = self._legs[rows]
        assets = self._asset[:, rows]
        close = self._close[rows]
        levels = _Levels.empty(rows.size)
        scratch = _Scratch(min(rows.size, CHUNK), other, is_k)
        for start in range(0, rows.size, CHUNK):
            part = slice(start, min(rows.size, start + CHUNK))
            used = int(legs[start]) if rows.size else 0
            scratch.lending_chunk(assets[:used, part], slots[:, :used, part], close[part],
                                  levels.chunk(part))
        perps = np.flatnonzero(self._perp[rows])
        if perps.size:
            levels.set_perps(perps, slots[:, 0, perps])
        unknown = [c for c in np.flatnonzero(np.isnan(table)).tolist() if c != code]
        lacking = assets[:, np.isnan(levels.price)]
        missing = frozenset(self._asset_names[c] for c in unknown if (lacking == c).any())
        self._ids_shared = True
        return BookLevels(asset, levels.price, levels.side, levels.quantity, levels.value_usd,
                          levels.debt_usd, levels.equity_base, levels.net_units,
                          self._protocol[rows], tuple(self._protocol_names), missing,
                          self._ids, rows)

    def clusters(self, asset: str, prices: Mapping[str, float],
                 grid: ClusterGrid | None = None) -> ClusterMap:
        """The asset's liquidation clusters over this book's positions."""
        return aggregate(asset, grid or ClusterGrid(), self.liquidation_prices(asset, prices))


class _Scratch:
    """Chunk-sized buffers for the lending pass: the work stays in cache and allocates little."""

    def __init__(self, size: int, other_prices: FloatArray, k_indicator: FloatArray) -> None:
        self.other_prices, self.k_indicator = other_prices, k_indicator
        (self.other_px, self.is_k, self.tmp, self.value, self.s_other, self.s_k, self.v_other,
         self.d_other, self.b_other, self.c_k, self.d_k, self.b_k) = np.zeros((12, size))

    def lending_chunk(self, assets: IntArray, slots: FloatArray, close: FloatArray,
                      out: _Levels) -> None:
        """Generic lending levels of a chunk of rows: slot sums in slot order, then the formula.

        other_px is the slot's price with asset k (and empty slots) at 0; is_k is 1.0 in k's
        slots. Adding a zero leaves a float sum unchanged, so s_other equals the scalar sum."""
        m = assets.shape[1]
        other_px, is_k, tmp, value = (self.other_px[:m], self.is_k[:m], self.tmp[:m],
                                      self.value[:m])
        sums = (self.s_other[:m], self.s_k[:m], self.v_other[:m], self.d_other[:m],
                self.b_other[:m], self.c_k[:m], self.d_k[:m], self.b_k[:m])
        for acc in sums:
            acc.fill(0.0)
        s_other, s_k, v_other, d_other, b_other, c_k, d_k, b_k = sums
        for j in range(assets.shape[0]):
            self.other_prices.take(assets[j], out=other_px, mode="wrap")
            self.k_indicator.take(assets[j], out=is_k, mode="wrap")
            weighted, collateral, debt, bonus = slots[:, j]
            s_other += np.multiply(weighted, other_px, out=tmp)
            s_k += np.multiply(weighted, is_k, out=tmp)
            v_other += np.multiply(collateral, other_px, out=value)
            b_other += np.multiply(value, bonus, out=tmp)
            d_other += np.multiply(debt, other_px, out=tmp)
            c_k += np.multiply(collateral, is_k, out=value)
            b_k += np.multiply(value, bonus, out=tmp)
            d_k += np.multiply(debt, is_k, out=tmp)
        out.assign_lending(s_other, s_k, v_other, d_other, b_other, c_k, d_k, b_k, close)


@dataclass
class _Levels:
    """Per-row level arrays while they are being assembled."""

    price: FloatArray
    side: npt.NDArray[np.int8]
    quantity: FloatArray
    value_usd: FloatArray
    debt_usd: FloatArray
    equity_base: FloatArray
    net_units: FloatArray

    @classmethod
    def empty(cls, n: int) -> _Levels:
        """Uninitialised arrays for n rows."""
        return cls(np.empty(n), np.empty(n, dtype=np.int8), np.empty(n), np.empty(n),
                   np.empty(n), np.empty(n), np.empty(n))

    def chunk(self, rows: slice) -> _Levels:
        """Views of a range of rows."""
        return _Levels(self.price[rows], self.side[rows], self.quantity[rows],
                       self.value_usd[rows], self.debt_usd[rows], self.equity_base[rows],
                       self.net_units[rows])

    def assign_lending(self, s_other: FloatArray, s_k: FloatArray, v_other: FloatArray,
                       d_other: FloatArray, b_other: FloatArray, c_k: FloatArray,
                       d_k: FloatArray, b_k: FloatArray, close: FloatArray) -> None:
        """The generic lending formula (as valuation._lending_level) from the slot sums."""
        with np.errstate(all="ignore"):
            price = np.divide(np.negative(s_other, out=self.price), s_k, out=self.price)
            valid = (s_k != 0) & (price > 0) & np.isfinite(price)
            collateral = v_other + c_k * price
            repaid = np.multiply(close, d_other + d_k * price, out=self.debt_usd)
            seized = np.minimum(repaid * (collateral + b_other + b_k * price) / collateral,
                                collateral)
            long = s_k > 0
            np.copyto(self.quantity, close * d_k)
            np.copyto(self.quantity, seized * c_k / collateral, where=long)
        with np.errstate(all="ignore"):
            np.multiply(self.quantity, price, out=self.value_usd)
        np.subtract(v_other, d_other, out=self.equity_base)
        np.subtract(c_k, d_k, out=self.net_units)
        self.side[:] = np.where(long, 1, -1) * valid
        price[~valid] = np.nan

    def set_perps(self, rows: npt.NDArray[np.intp], slot0: FloatArray) -> None:
        """Overwrite perp rows with the isolated-margin formula (as valuation._perp_level)."""
        size, entry, margin, ratio = slot0
        qty = -size
        with np.errstate(all="ignore"):
            price = np.where(size > 0, (size * entry - margin) / (size * (1.0 - ratio)),
                             (margin + qty * entry) / (qty * (1.0 + ratio)))
        valid = (size != 0) & (price > 0) & np.isfinite(price)
        long = size > 0
        self.price[rows] = np.where(valid, price, np.nan)
        self.side[rows] = np.where(valid, np.where(long, 1, -1), 0)
        self.quantity[rows] = np.abs(size)
        self.value_usd[rows] = np.abs(size) * price
        self.debt_usd[rows] = np.where(long, size * entry - margin, qty * price)
        self.equity_base[rows] = np.where(long, margin - size * entry, margin + qty * entry)
        self.net_units[rows] = size
