"""The contagion feature's trigger passes on one worker without a broker: a price move asks for
them urgently and a change of positions alone does not; a pass whose start prices move before
it ends is abandoned and asks for another at once, and the pass after an abandoned one runs to
its end however the prices move."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.stream.app import Stream
from monitor.stream.contagion.rounds import StepReply, StepRequest
from monitor.wire import PriceUpdate


def moving_prices(market_stream: Stream, every_round: bool) -> list[int]:
    """Make WETH's price move as the first round (or every round) is answered; the rounds
    answered, as a list that grows."""
    answered: list[int] = []
    answer = market_stream.contagion.responder.answer

    def moved(request: StepRequest, partition: int) -> StepReply:
        answered.append(request.round)
        if every_round or len(answered) == 1:
            held = market_stream.prices.latest["WETH"]
            market_stream.prices.offer(PriceUpdate("WETH", held.price * 1.0001,
                                            (held.version[0] + 1, 0), 2.0, "test"))
        return answer(request, partition)

    market_stream.contagion.responder.answer = moved  # type: ignore[method-assign]
    return answered


def served_down(market_stream: Stream) -> dict[str, Any] | None:
    """The joint projection of WETH's down trigger served now, if any."""
    return market_stream.contagion.cascades.contagion.get("WETH", {}).get("down")


async def test_a_pass_whose_prices_moved_is_abandoned_and_the_next_one_runs_to_its_end(
        market_stream: Stream) -> None:
    contagion = market_stream.contagion
    contagion._dirty.add("WETH")
    answered = moving_prices(market_stream, every_round=True)
    assert await contagion._project_triggers() == 0.0  # abandoned: none of its time counts
    assert answered == [0] and served_down(market_stream) is None
    assert contagion._dirty == {"WETH"} and contagion.triggers._wanted.is_set()
    held = await contagion._project_triggers()  # prices move every round: still served
    assert held is not None and held > 0.0
    body = served_down(market_stream)
    assert body is not None and body["rounds"] > 2 and body["liquidated_usd"] > 0
    assert body["price_versions"]["WETH"] == [2, 0]  # the prices the pass began with
    assert answered[1:] == list(range(len(answered) - 1))  # one pass through every round
    assert len(answered) - 1 >= body["rounds"]


async def test_a_pass_whose_prices_held_still_is_served(market_stream: Stream) -> None:
    contagion = market_stream.contagion
    contagion._dirty.add("WETH")
    answered = moving_prices(market_stream, every_round=False)
    assert await contagion._project_triggers() == 0.0  # the first round's move abandons it
    contagion._dirty.add("WETH")
    await contagion._project_triggers()
    first = served_down(market_stream)
    assert first is not None and first["price_versions"]["WETH"] == [2, 0]
    contagion._dirty.add("WETH")  # no move now: a pass that may be abandoned runs through
    await contagion._project_triggers()
    again = served_down(market_stream)
    assert again is not None and again is not first and contagion._abandoned is False
    assert again["liquidated_usd"] == pytest.approx(first["liquidated_usd"])
    assert answered.count(0) == 3


async def test_a_price_move_asks_for_the_triggers_urgently_and_a_change_of_positions_does_not(
        market_stream: Stream) -> None:
    contagion, triggers = market_stream.contagion, market_stream.contagion.triggers
    projection = market_stream.cascades.projections["WETH"]
    contagion._projected(projection)  # the first projection of an asset: a new price
    assert triggers._wanted.is_set() and triggers._urgent.is_set()
    triggers._wanted.clear()
    triggers._urgent.clear()
    contagion._projected(dict(projection))  # the same price: only positions changed
    assert triggers._wanted.is_set() and not triggers._urgent.is_set()
    contagion._projected({**projection, "price": projection["price"] * 0.99})
    assert triggers._urgent.is_set() and contagion._dirty == {"WETH"}


async def test_the_stress_shocks_rerun_after_a_price_move_or_a_share_of_the_book_changed(
        market_stream: Stream) -> None:
    contagion, stresses = market_stream.contagion, market_stream.contagion.stresses
    projection = market_stream.cascades.projections["WETH"]
    held = len(market_stream.positions.books)
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


async def test_a_projection_changed_without_a_price_move_reruns_the_stress_shocks_after_a_pause(
        market_stream: Stream) -> None:
    """Positions another worker holds reach the coordinator only through the merged clusters
    and the projection they change: the stress shocks must not wait for a change here."""
    contagion, stresses = market_stream.contagion, market_stream.contagion.stresses
    projection = market_stream.cascades.projections["WETH"]
    contagion._projected(projection)
    await contagion._project_stress()
    stresses._wanted.clear()
    contagion.restress.quiet = 0.05
    contagion._projected(dict(projection))  # the same price: clusters changed elsewhere
    assert not stresses._wanted.is_set() and contagion.restress.waiting
    await asyncio.wait_for(stresses._wanted.wait(), 5.0)
