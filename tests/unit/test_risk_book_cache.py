"""The book's cached levels stay equal to the scalar ones (1e-12 relative) through any
interleaving of upserts, removals and partial price moves, including prices that go missing and
come back, positions whose leg count changes, and more assets than a row's asset bits hold."""

from __future__ import annotations

import math
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    MissingPrice,
    PerpPosition,
    Position,
    PositionBook,
    health_factor,
    position_level,
)
from tests.unit.risk_strategies import ASSETS, PRICES, lending, perp

FIELDS = ("quantity", "value_usd", "debt_usd", "equity_base_usd", "net_units")


def assert_book_is_scalar(book: PositionBook, held: dict[str, Position],
                          quotes: dict[str, float], assets: tuple[str, ...] = ASSETS) -> None:
    """Every asset's levels, missing prices and health factors equal the scalar ones."""
    for asset in assets:
        levels = book.liquidation_prices(asset, quotes)
        seen = dict(zip(levels.ids.tolist(), range(len(levels)), strict=True))
        lacking: set[str] = set()
        for pid, position in held.items():
            if asset not in position.assets():
                assert pid not in seen
                continue
            i = seen.pop(pid)
            try:
                expected = position_level(position, asset, quotes)
            except MissingPrice as exc:
                lacking.add(exc.asset)
                lacking |= {a for a in position.assets() - {asset} if a not in quotes}
                expected = None
            if expected is None:
                assert levels.side[i] == 0 and math.isnan(levels.price[i])
                continue
            assert levels.side[i] == (1 if expected.side == "long" else -1)
            assert levels.price[i] == pytest.approx(expected.price, rel=1e-12)
            for name in FIELDS:
                got, want = getattr(levels, name)[i], getattr(expected, name)
                assert got == pytest.approx(want, rel=1e-12, abs=1e-9 * (1 + abs(want))), name
            assert levels.protocols[levels.protocol[i]] == position.protocol
        assert not seen
        assert levels.missing == frozenset(lacking)
    if all(a in quotes for a in assets):
        hf = dict(zip(book.ids().tolist(), book.health_factors(quotes).tolist(), strict=True))
        for pid, position in held.items():
            if isinstance(position, PerpPosition) or position.protocol != "aave-v3":
                assert hf[pid] == pytest.approx(health_factor(position, quotes), rel=1e-12)


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Upserts and removals over ids p0..p7, price moves, drops and restores."""
    ops: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["upsert", "upsert", "remove", "move", "drop", "restore"]))
        if kind == "upsert":
            pid = f"p{draw(st.integers(0, 7))}"
            ops.append((kind, draw(st.one_of(lending(pid), perp(pid)))))
        elif kind == "remove":
            ops.append((kind, f"p{draw(st.integers(0, 7))}"))
        elif kind == "move":
            ops.append((kind, (draw(st.sampled_from(ASSETS)), draw(st.floats(0.2, 5.0)))))
        else:
            ops.append((kind, draw(st.sampled_from(ASSETS))))
    return ops


@settings(max_examples=60, deadline=None)
@given(operations())
def test_cached_levels_follow_every_change(ops: list[tuple[str, object]]) -> None:
    book = PositionBook(capacity=1)
    held: dict[str, Position] = {}
    quotes = dict(PRICES)
    for kind, arg in ops:
        if kind == "upsert":
            assert isinstance(arg, LendingPosition | PerpPosition)
            book.upsert(arg)
            held[arg.position_id] = arg
        elif kind == "remove":
            assert isinstance(arg, str)
            assert book.remove(arg) == (held.pop(arg, None) is not None)
        elif kind == "move":
            asset, factor = cast(tuple[str, float], arg)
            quotes[asset] = PRICES[asset] * factor
        elif kind == "drop":
            quotes.pop(str(arg), None)
        else:
            quotes[str(arg)] = PRICES[str(arg)]
        assert_book_is_scalar(book, held, quotes)
    assert len(book) == len(held)
    assert book.assets() == frozenset(a for p in held.values() for a in p.assets())


def test_more_assets_than_asset_bits() -> None:
    names = tuple(f"T{i}" for i in range(70))
    quotes = {name: 1.0 + i for i, name in enumerate(names)}
    book = PositionBook()
    held: dict[str, Position] = {}
    for i in range(len(names)):
        legs = (CollateralLeg(names[i], 10.0, 0.8, 0.05),
                CollateralLeg(names[(i * 7 + 3) % 70], 5.0, 0.7))
        position = LendingPosition(f"l{i}", "spark", "0xa", legs,
                                   (DebtLeg(names[(i * 11 + 1) % 70], 3.0),))
        book.upsert(position)
        held[position.position_id] = position
    assert_book_is_scalar(book, held, quotes, names)
    for moved in ("T69", "T64", "T2", "T63"):
        quotes[moved] *= 1.5
        assert_book_is_scalar(book, held, quotes, names)


def test_levels_already_returned_do_not_change() -> None:
    position = LendingPosition("l", "spark", "0xa", (CollateralLeg("WETH", 2.0, 0.8),
                                                     CollateralLeg("WBTC", 0.1, 0.7)),
                               (DebtLeg("USDC", 6000.0),))
    book = PositionBook.from_positions([position])
    before = book.liquidation_prices("WETH", PRICES)
    price = float(before.price[0])
    assert price == pytest.approx(1125.0)
    book.liquidation_prices("WETH", {**PRICES, "WBTC": 30000.0})
    book.upsert(LendingPosition("l", "spark", "0xa", (CollateralLeg("WETH", 1.0, 0.8),),
                                (DebtLeg("USDC", 1000.0),)))
    book.liquidation_prices("WETH", PRICES)
    assert before.price[0] == price and before.ids.tolist() == ["l"]


def test_leg_storage_is_reclaimed_when_positions_change_shape() -> None:
    book = PositionBook(capacity=4)
    wide = tuple(CollateralLeg(a, 1.0, 0.8) for a in ASSETS)
    held: dict[str, Position] = {}
    for round_ in range(200):
        legs = wide[: 1 + round_ % 4]
        for i in range(4):
            held[f"p{i}"] = LendingPosition(f"p{i}", "spark", "0xa", legs,
                                            (DebtLeg("USDC", 100.0 + round_),))
            book.upsert(held[f"p{i}"])
    assert_book_is_scalar(book, held, PRICES)
    assert book.nbytes() < 64 * 1024
