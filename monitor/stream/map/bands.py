"""Liquidation levels in fixed bands of distance from the price, 0.5 % wide out to 20 % on each
side: a bounded set of series (80 per asset) that Grafana draws as levels by price, whatever
the grid and however far the levels spread. Pure (no Faust).

A band holds a level whole, where the edge nearest the price lies (the edge the price crosses
first), so the bands summed outward from the price to k × 0.5 % equal liquidatable_within at
that move. Levels already at or beyond the price count in the first band; levels farther than
20 % are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from monitor.risk import SIDES, ClusterLevel, Side

BAND_WIDTH: Final = 0.005
BANDS: Final = 40


def band_label(side: Side, band: int) -> str:
    """The band's far edge as a signed percent of the price: "-0.5" (0-0.5 % below) … "+20.0"."""
    return f"{(-1 if side == 'long' else 1) * band * BAND_WIDTH * 100:+.1f}"


def band_of(level: ClusterLevel, price: float) -> int:
    """The band (1 … BANDS, or beyond) of the level's edge nearest the price."""
    if level.side == "long":
        distance = (price - level.price_high) / price
        return 1 if distance < 0 else math.floor(distance / BAND_WIDTH) + 1
    distance = (level.price_low - price) / price
    return max(1, math.ceil(distance / BAND_WIDTH))


def banded(levels: Iterable[ClusterLevel], price: float) -> dict[tuple[Side, int], float]:
    """USD value per (side, band), every band present (0 when empty)."""
    totals = {(side, band): 0.0 for side in SIDES for band in range(1, BANDS + 1)}
    for level in levels:
        band = band_of(level, price)
        if band <= BANDS:
            totals[level.side, band] += level.value_usd
    return totals
