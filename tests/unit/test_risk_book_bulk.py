"""Bulk loading (PositionBook.extend / from_positions) leaves the book exactly as one upsert per
position would: same positions, same levels, and it keeps working under later changes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, Position, PositionBook
from tests.unit.risk_strategies import ASSETS, PRICES, positions, prices
from tests.unit.test_risk_book_cache import assert_book_is_scalar


def levels_by_id(book: PositionBook, quotes: dict[str, float]) -> dict[str, list[float]]:
    """Every asset's level fields keyed by asset and position id (nan-safe comparable)."""
    out: dict[str, list[float]] = {}
    for asset in ASSETS:
        levels = book.liquidation_prices(asset, quotes)
        block = np.nan_to_num(np.stack([levels.price, levels.side, levels.quantity,
                                        levels.debt_usd, levels.net_units]), nan=-1.0)
        for pid, column in zip(levels.ids.tolist(), block.T.tolist(), strict=True):
            out[f"{asset}/{pid}"] = column
    return out


@settings(max_examples=50, deadline=None)
@given(positions(max_size=12), positions(max_size=12), st.lists(st.integers(0, 11)), prices())
def test_extend_equals_upserts(first: list[Position], second: list[Position],
                               removals: list[int], quotes: dict[str, float]) -> None:
    bulk = PositionBook.from_positions(first)
    bulk.extend([*second, *first[:3]])  # ids repeat, within the batch and with the book
    single = PositionBook(capacity=1)
    for position in [*first, *second, *first[:3]]:
        single.upsert(position)
    held = {p.position_id: p for p in [*first, *second, *first[:3]]}
    assert len(bulk) == len(single) == len(held)
    assert bulk.width == single.width and bulk.assets() == single.assets()
    assert all(bulk.assets_of(pid) == p.assets() for pid, p in held.items())
    assert levels_by_id(bulk, quotes) == levels_by_id(single, quotes)
    assert_book_is_scalar(bulk, held, quotes)
    for i in removals:
        assert bulk.remove(f"p{i}") == (held.pop(f"p{i}", None) is not None)
    bulk.extend(second[:2])
    held.update((p.position_id, p) for p in second[:2])
    assert_book_is_scalar(bulk, held, PRICES)


def test_bulk_loaded_book_holds_no_spare_rows() -> None:
    generated = [LendingPosition(f"l{i}", "spark", "0xa",
                                 (CollateralLeg(ASSETS[i % 3], 1.0 + i, 0.8, 0.05),),
                                 (DebtLeg("USDC", 100.0 + i),)) for i in range(3000)]
    book = PositionBook.from_positions(generated)
    grown = PositionBook(capacity=1)
    for position in generated:
        grown.upsert(position)
    assert book.nbytes() < grown.nbytes()
    assert levels_by_id(book, PRICES) == levels_by_id(grown, PRICES)
