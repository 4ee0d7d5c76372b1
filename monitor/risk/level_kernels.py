"""Vectorised level formulas over the leg arena: generic lending levels (as
valuation._lending_level), isolated perp levels (as valuation._perp_level) and health factors.

Slot sums run slot by slot in snapshot order with chunk-sized preallocated buffers (the work
stays in cache). A slot of the repriced asset k adds exactly 0.0 to the "other" sums and a slot
of another asset adds 0.0 to k's, so every sum equals the scalar one bit for bit.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.risk.legs import BONUS, COLLATERAL, DEBT, WEIGHTED, IntArray, LegArena, by_count
from monitor.risk.level_fields import DEBT_USD, EQUITY_BASE, NET_UNITS, PRICE, QUANTITY

FloatArray = npt.NDArray[np.float64]
SideArray = npt.NDArray[np.int8]
CHUNK: Final = 16384  # positions per vectorised step


class LendingKernel:
    """Buffers and price tables for the lending levels through one asset, chunk by chunk.

    other: price by asset code with the asset itself (and the trailing empty code) at 0.0;
    is_k: 1.0 at the asset's code, else 0.0."""

    def __init__(self, other: FloatArray, is_k: FloatArray, size: int) -> None:
        self.other, self.is_k = other, is_k
        self.legs = np.empty(size, dtype=np.int64)
        self.codes = np.empty(size, dtype=np.int32)
        self.slot = np.empty(4 * size)
        self.px, self.kk, self.tmp, self.part = np.empty((4, size))
        self.sums = np.empty((8, size))
        self.out = np.empty(5 * size)
        self.side = np.empty(size, dtype=np.int8)

    def run(self, arena: LegArena, starts: IntArray, count: int, close: FloatArray,
            recovery: FloatArray) -> tuple[FloatArray, SideArray]:
        """Levels [PRICE.. NET_UNITS, m] and sides of m positions of `count` legs each (close
        factor and recovered share of the collateral by position)."""
        m = starts.size
        legs, codes = self.legs[:m], self.codes[:m]
        slot = self.slot[:4 * m].reshape(4, m)
        px, kk, tmp, part = self.px[:m], self.kk[:m], self.tmp[:m], self.part[:m]
        sums = self.sums[:, :m]
        sums.fill(0.0)
        s_other, s_k, v_other, d_other, b_other, c_k, d_k, b_k = sums
        for j in range(count):
            np.add(starts, j, out=legs)
            arena.code.take(legs, out=codes, mode="clip")
            arena.values.take(legs, axis=1, out=slot, mode="clip")
            weighted, collateral, debt, bonus = (slot[WEIGHTED], slot[COLLATERAL], slot[DEBT],
                                                 slot[BONUS])
            self.other.take(codes, out=px, mode="wrap")
            self.is_k.take(codes, out=kk, mode="wrap")
            s_other += np.multiply(weighted, px, out=tmp)
            s_k += np.multiply(weighted, kk, out=tmp)
            v_other += np.multiply(collateral, px, out=part)
            b_other += np.multiply(part, bonus, out=tmp)
            c_k += np.multiply(collateral, kk, out=part)
            b_k += np.multiply(part, bonus, out=tmp)
            d_other += np.multiply(debt, px, out=tmp)
            d_k += np.multiply(debt, kk, out=tmp)
        out = self.out[:5 * m].reshape(5, m)
        side = self.side[:m]
        _lending_formula(sums, close, recovery, out, side)
        return out, side


def _lending_formula(sums: FloatArray, close: FloatArray, recovery: FloatArray,
                     out: FloatArray, side: SideArray) -> None:
    """The generic lending level from the slot sums (valuation._lending_level's arithmetic)."""
    s_other, s_k, v_other, d_other, b_other, c_k, d_k, b_k = sums
    price = out[PRICE]
    with np.errstate(all="ignore"):
        np.divide(np.negative(s_other, out=price), s_k, out=price)
        valid = (s_k != 0) & (price > 0) & np.isfinite(price)
        collateral = v_other + c_k * price
        repaid = np.multiply(close, d_other + d_k * price, out=out[DEBT_USD])
        seized = np.minimum(repaid * (collateral + b_other + b_k * price) / collateral,
                            collateral)
        long = s_k > 0
        np.multiply(close, d_k, out=out[QUANTITY])
        np.copyto(out[QUANTITY], seized * c_k / collateral, where=long)
    np.subtract(recovery * v_other, d_other, out=out[EQUITY_BASE])
    np.subtract(recovery * c_k, d_k, out=out[NET_UNITS])
    np.copyto(side, np.where(long, 1, -1) * valid, casting="unsafe")
    price[~valid] = np.nan


def perp_levels(slot: FloatArray) -> tuple[FloatArray, SideArray]:
    """Levels [PRICE.. NET_UNITS, m] and sides of perps from their leg values [4, m]."""
    size, entry, margin, ratio = slot
    qty = -size
    long = size > 0
    with np.errstate(all="ignore"):
        price = np.where(long, (size * entry - margin) / (size * (1.0 - ratio)),
                         (margin + qty * entry) / (qty * (1.0 + ratio)))
    valid = (size != 0) & (price > 0) & np.isfinite(price)
    out = np.empty((5, size.size))
    out[PRICE] = np.where(valid, price, np.nan)
    out[QUANTITY] = np.abs(size)
    out[DEBT_USD] = np.where(long, size * entry - margin, qty * price)
    out[EQUITY_BASE] = np.where(long, margin - size * entry, margin + qty * entry)
    out[NET_UNITS] = size
    side = np.where(valid, np.where(long, 1, -1), 0).astype(np.int8)
    return out, side


def collateral_values(arena: LegArena, starts: IntArray, counts: npt.NDArray[np.int32],
                      perp: npt.NDArray[np.bool_], table: FloatArray) -> FloatArray:
    """Generic collateral value of each lending position (nan with a price missing; inf for a
    perp, whose collateral is not a leg sum): a cheap bound to filter on before valuing one."""
    values = np.zeros(starts.size)
    for count, group in by_count(counts):
        first = starts[group]
        total = np.zeros(group.size)
        for j in range(count):
            codes, slot = arena.gather(first, j)
            total += np.maximum(slot[COLLATERAL], 0.0) * table.take(codes, mode="wrap")
        values[group] = total
    values[perp] = np.inf
    return values


class HealthTerms:
    """The legs a health factor reads, gathered once in slot order (position by position), so
    that health factors at any number of price vectors cost a few passes over the legs each
    instead of a gather per slot; sums run in snapshot order, as the scalar ones do."""

    def __init__(self, arena: LegArena, starts: IntArray, counts: npt.NDArray[np.int32],
                 perp: npt.NDArray[np.bool_]) -> None:
        self.n = starts.size
        lending = np.flatnonzero(~perp)
        sizes = counts[lending].astype(np.int64)
        self.owner = np.repeat(lending, sizes)
        legs = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(
            starts[lending] - (np.cumsum(sizes) - sizes), sizes)
        self.codes = arena.code.take(legs)
        self.weighted = np.maximum(arena.values[WEIGHTED].take(legs), 0.0)
        self.debt = arena.values[DEBT].take(legs)
        self.perps = np.flatnonzero(perp)
        self.perp_codes, self.perp_values = arena.gather(starts[self.perps], 0)

    def factors(self, table: FloatArray) -> FloatArray:
        """Generic health factor of each position (inf without debt, nan with a price
        missing); table: price by asset code, the empty code's 0.0 last."""
        px = table.take(self.codes, mode="wrap")
        weighted = np.bincount(self.owner, self.weighted * px, minlength=self.n)
        debt = np.bincount(self.owner, self.debt * px, minlength=self.n)
        with np.errstate(all="ignore"):
            hf = np.where(debt > 0, weighted / debt, np.where(np.isnan(debt), np.nan, np.inf))
        if self.perps.size:
            size, entry, margin, ratio = self.perp_values
            p = table.take(self.perp_codes, mode="wrap")
            maintenance = ratio * np.abs(size) * p
            with np.errstate(all="ignore"):
                hf[self.perps] = np.where(maintenance > 0,
                                          (margin + size * (p - entry)) / maintenance, np.inf)
        return hf
