"""The contagion feature's trigger passes on one worker without a broker: a price move asks for
them urgently and a change of positions alone does not; a pass whose start prices move before
it ends is abandoned and asks for another at once, and the pass after an abandoned one runs to
its end however the prices move."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_settings
from monitor.risk import from_snapshot
from monitor.stream.app import Stream, build_stream
from monitor.stream.contagion.rounds import StepReply, StepRequest
from monitor.wire import PriceUpdate
from tests.unit import contagion_market

SHOCK = 0.8  # the down trigger the projection names, as a share of WETH's price


@pytest.fixture
def stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stream]:
    """A one-partition worker holding a market that cascades at a 20 % WETH shock, ready, its
    WETH projection naming that down trigger."""
    snapshots, prices = contagion_market.snapshots(400, 3)
    positions = [from_snapshot(s) for s in snapshots]
    model = contagion_market.model_file(tmp_path / "model.toml",
                                        contagion_market.model(positions, prices))
    built = build_stream(load_settings(model, environ={}).with_overrides(partitions=1))
    monkeypatch.setattr(built.ctx, "ready", lambda: True)
    monkeypatch.setattr(built.ctx, "owned", lambda topic: {0})
    for position in positions:
        built.positions.books.apply(0, position)
    found = {p.position_id: p for p in positions}
    monkeypatch.setattr(built.contagion.responder, "find", found.get)
    for asset, price in prices.items():
        built.prices.offer(PriceUpdate(asset, price, (1, 0), 1.0, "test"))
    built.cascades.projections["WETH"] = {
        "asset": "WETH", "price": prices["WETH"], "down": {"trigger_price": prices["WETH"] * SHOCK},
        "up": {"trigger_price": None}}
    yield built


def moving_prices(stream: Stream, every_round: bool) -> list[int]:
    """Make WETH's price move as the first round (or every round) is answered; the rounds
    answered, as a list that grows."""
    answered: list[int] = []
    answer = stream.contagion.responder.answer

    def moved(request: StepRequest, partition: int) -> StepReply:
        answered.append(request.round)
        if every_round or len(answered) == 1:
            held = stream.prices.latest["WETH"]
            stream.prices.offer(PriceUpdate("WETH", held.price * 1.0001,
                                            (held.version[0] + 1, 0), 2.0, "test"))
        return answer(request, partition)

    stream.contagion.responder.answer = moved  # type: ignore[method-assign]
    return answered


def served_down(stream: Stream) -> dict[str, Any] | None:
    """The joint projection of WETH's down trigger served now, if any."""
    return stream.contagion.cascades.contagion.get("WETH", {}).get("down")


async def test_a_pass_whose_prices_moved_is_abandoned_and_the_next_one_runs_to_its_end(
        stream: Stream) -> None:
    contagion = stream.contagion
    contagion._dirty.add("WETH")
    answered = moving_prices(stream, every_round=True)
    assert await contagion._project_triggers() == 0.0  # abandoned: none of its time counts
    assert answered == [0] and served_down(stream) is None
    assert contagion._dirty == {"WETH"} and contagion.triggers._wanted.is_set()
    held = await contagion._project_triggers()  # prices move every round: still served
    assert held is not None and held > 0.0
    body = served_down(stream)
    assert body is not None and body["rounds"] > 2 and body["liquidated_usd"] > 0
    assert body["price_versions"]["WETH"] == [2, 0]  # the prices the pass began with
    assert answered[1:] == list(range(len(answered) - 1))  # one pass through every round
    assert len(answered) - 1 >= body["rounds"]


async def test_a_pass_whose_prices_held_still_is_served(stream: Stream) -> None:
    contagion = stream.contagion
    contagion._dirty.add("WETH")
    answered = moving_prices(stream, every_round=False)
    assert await contagion._project_triggers() == 0.0  # the first round's move abandons it
    contagion._dirty.add("WETH")
    await contagion._project_triggers()
    first = served_down(stream)
    assert first is not None and first["price_versions"]["WETH"] == [2, 0]
    contagion._dirty.add("WETH")  # no move now: a pass that may be abandoned runs through
    await contagion._project_triggers()
    again = served_down(stream)
    assert again is not None and again is not first and contagion._abandoned is False
    assert again["liquidated_usd"] == pytest.approx(first["liquidated_usd"])
    assert answered.count(0) == 3


async def test_a_price_move_asks_for_the_triggers_urgently_and_a_change_of_positions_does_not(
        stream: Stream) -> None:
    contagion, triggers = stream.contagion, stream.contagion.triggers
    projection = stream.cascades.projections["WETH"]
    contagion._projected(projection)  # the first projection of an asset: a new price
    assert triggers._wanted.is_set() and triggers._urgent.is_set()
    triggers._wanted.clear()
    triggers._urgent.clear()
    contagion._projected(dict(projection))  # the same price: only positions changed
    assert triggers._wanted.is_set() and not triggers._urgent.is_set()
    contagion._projected({**projection, "price": projection["price"] * 0.99})
    assert triggers._urgent.is_set() and contagion._dirty == {"WETH"}


async def test_the_stress_shocks_rerun_after_a_price_move_or_a_share_of_the_book_changed(
        stream: Stream) -> None:
    contagion, stresses = stream.contagion, stream.contagion.stresses
    projection = stream.cascades.projections["WETH"]
    held = len(stream.positions.books)
    assert held >= 40
    contagion._projected(projection)  # a new price: at once
    assert stresses._wanted.is_set()
    await contagion._project_stress()
    stresses._wanted.clear()
    contagion._positions_changed((0, ("p1",)))  # one position of many changed
    contagion._projected(dict(projection))
    assert not stresses._wanted.is_set() and contagion.restress.pending == 1  # later
    contagion._positions_changed((0, tuple(f"p{i}" for i in range(held // 4))))
    assert stresses._wanted.is_set()  # now STRESS_SHARE of the book changed
    await contagion._project_stress()
    assert contagion.restress.pending == 0
