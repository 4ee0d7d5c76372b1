"""Vectorised liquidations over the leg arena (as monitor.risk.contagion_step.liquidate and
bad_debt do one position at a time, at the legs' USD prices): per row the USD a liquidation
takes and the collateral and debt it is valued at, and per asset code the net base units it
sells. Row sums add legs in snapshot order, as the scalar sums do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitor.risk.legs import BONUS, COLLATERAL, DEBT, IntArray, LegArena

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Flows:
    """Liquidating some rows: `sold` by asset code, the rest by row."""

    sold: FloatArray
    touched: npt.NDArray[np.int32]  # asset codes some leg of the rows holds
    usd: FloatArray
    collateral: FloatArray
    debt: FloatArray


def liquidation_flows(arena: LegArena, starts: IntArray, counts: npt.NDArray[np.int32],
                      perp: npt.NDArray[np.bool_], close: FloatArray, table: FloatArray,
                      n_codes: int) -> Flows:
    """Liquidate every given row at the prices of `table` (by asset code, the empty code's
    0.0 last): lending seizes min(close × debt × (1 + bonus), collateral) pro rata from its
    collateral and repays close × each debt (nothing without collateral); a perp trades its
    size, valued as a loan (long: size × p against size × entry − margin; short: margin −
    size × entry against −size × p)."""
    n = starts.size
    sizes = counts.astype(np.int64)
    owner = np.repeat(np.arange(n), sizes)
    legs = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(owner.size)
    codes = arena.code.take(legs)
    values = arena.values.take(legs, axis=1)
    px = table.take(codes, mode="wrap")
    lending = ~perp[owner]
    held = np.where(lending, values[COLLATERAL] * px, 0.0)
    collateral = np.bincount(owner, held, minlength=n).astype(np.float64, copy=False)
    debt = np.bincount(owner, np.where(lending, values[DEBT] * px, 0.0),
                       minlength=n).astype(np.float64, copy=False)
    bonus = np.bincount(owner, held * values[BONUS], minlength=n)
    has = collateral > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        seized = np.where(has, np.minimum(close * debt * (1.0 + bonus / collateral),
                                          collateral), 0.0)
        sold_leg = np.where(lending, np.where(
            has[owner], seized[owner] * values[COLLATERAL] / collateral[owner]
            - close[owner] * values[DEBT], 0.0), values[0])
    usd = seized
    perps = np.flatnonzero(perp)
    if perps.size:
        first = starts[perps]
        size, entry, margin = arena.values[0, first], arena.values[1, first], \
            arena.values[2, first]
        p = table.take(arena.code.take(first), mode="wrap")
        usd[perps] = np.abs(size) * p
        long = size >= 0
        collateral[perps] = np.where(long, size * p, margin - size * entry)
        debt[perps] = np.where(long, size * entry - margin, -size * p)
    sold = np.bincount(codes, sold_leg, minlength=n_codes).astype(np.float64, copy=False)
    return Flows(sold, np.unique(codes), usd, collateral, debt)
