"""The contagion rounds without a network: the wire records round-trip and refuse garbage, the
responder keeps a batch's steps between rounds (and says when it cannot answer), scenarios come
from triggers and stress shocks, and driving the responder's partitions round by round gives
project_contagion over the union."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from monitor.config import StressShock, load_settings
from monitor.risk import JointCascade, Position, Release, from_snapshot, project_contagion
from monitor.stream.contagion.responder import Responder
from monitor.stream.contagion.rounds import MAX_RUNS, StepReply, StepRequest
from monitor.stream.contagion.scenarios import (
    Scenario,
    contagion_model,
    served,
    stress_scenario,
    trigger_scenarios,
)
from monitor.stream.context import partition_of
from monitor.stream.depth.observed import ObservedDepth
from monitor.stream.positions.books import Books
from monitor.wire import Rejected
from tests.unit import contagion_market

PARTITIONS = 4


def books_of(snapshots: list[dict[str, Any]]) -> Books:
    """Every snapshot applied to its partition's book."""
    books = Books()
    for snapshot in snapshots:
        position = from_snapshot(snapshot)
        books.apply(partition_of(position.position_id, PARTITIONS), position)
    return books


def find_in(snapshots: list[dict[str, Any]]) -> Callable[[str], Position | None]:
    """A lookup of the snapshots' positions by id (as the table decodes them)."""
    return {p.position_id: p for p in map(from_snapshot, snapshots)}.get


def test_records_round_trip_and_refuse_garbage() -> None:
    request = StepRequest("b", 2, {"WETH": 3000.0}, {"WETH:down": {"WETH": 2900.0}})
    assert StepRequest.from_bytes(request.to_bytes()) == request
    release = Release({"WETH": 1.5}, {"aave-v3": 10.0}, 1, {}, {"m": ("WETH", "USDC")})
    for reply in (StepReply("b", 2, 1, {"WETH:down": release}), StepReply("b", 2, 1, None)):
        assert StepReply.from_bytes(reply.to_bytes()) == reply
    for raw in (b'{"batch": "b"}', b'{"batch": "b", "round": 0, "partition": 1, '
                                   b'"releases": {"r": {"sold": 3}}}'):
        with pytest.raises(Rejected) as caught:
            StepReply.from_bytes(raw)
        assert caught.value.reason == "invalid-contagion"
    many = StepRequest("b", 0, {}, {str(i): {} for i in range(MAX_RUNS + 1)}).to_bytes()
    for raw in (b'{"batch": "b", "round": 0, "start": 5, "runs": {}}', many):
        with pytest.raises(Rejected) as caught:
            StepRequest.from_bytes(raw)
        assert caught.value.reason == "invalid-contagion"


def test_driving_the_responder_round_by_round_equals_the_union() -> None:
    snapshots, prices = contagion_market.snapshots(800, 3)
    positions = [from_snapshot(s) for s in snapshots]
    responder = Responder(books_of(snapshots), find_in(snapshots), keep=60.0)
    model = contagion_market.model(positions, prices)
    shock = prices["WETH"] * 0.8
    cascade = JointCascade("WETH", prices, shock, model)
    number = 0
    while True:
        request = StepRequest.from_bytes(
            StepRequest("b", number, prices, {"r": cascade.prices}).to_bytes())
        replies = [StepReply.from_bytes(responder.answer(request, p).to_bytes())
                   for p in range(PARTITIONS)]
        assert all(reply.releases is not None for reply in replies)
        if cascade.absorb([reply.releases["r"] for reply in replies if reply.releases]):
            break
        number += 1
    got, want = cascade.projection(), project_contagion(positions, "WETH", prices, shock, model)
    assert got.rounds == want.rounds >= 2
    assert math.isclose(got.liquidated_usd, want.liquidated_usd, rel_tol=1e-9)
    assert math.isclose(got.bad_debt_usd, want.bad_debt_usd, rel_tol=1e-9)


def test_the_responder_says_when_it_cannot_answer() -> None:
    snapshots, prices = contagion_market.snapshots(50, 1)
    books = books_of(snapshots)
    held = next(iter(books.partitions))
    absent = next(p for p in range(PARTITIONS + 1) if p not in books.partitions)
    responder = Responder(books, find_in(snapshots), keep=60.0)
    first = StepRequest("b", 0, prices, {"r": prices})
    assert responder.answer(first, absent).releases is None  # not held here
    assert responder.answer(StepRequest("c", 1, prices, {"r": prices}), held).releases \
        is None  # a batch whose first round it never saw
    assert responder.answer(first, held).releases is not None
    assert responder.answer(StepRequest("b", 2, prices, {"r": prices}), held
                            ).releases is None  # a round skipped
    assert responder.answer(StepRequest("b", 1, prices, {"other": prices}), held
                            ).releases is None  # a run it has no step for
    assert responder.answer(StepRequest("b", 1, prices, {"r": prices}), held
                            ).releases is not None
    forgetful = Responder(books, find_in(snapshots), keep=-1.0)
    forgetful.answer(first, held)
    assert forgetful.answer(StepRequest("b", 1, prices, {"r": prices}), held
                            ).releases is None  # forgotten after `keep`


def test_scenarios_models_and_the_served_body() -> None:
    projection = {"asset": "WETH", "down": {"trigger_price": 2900.0},
                  "up": {"trigger_price": None}}
    assert trigger_scenarios(projection) == [
        Scenario("WETH:down", "trigger", "down", "WETH", 2900.0)]
    prices = {"WETH": 3000.0, "WBTC": 60_000.0, "USDC": 1.0}
    shock = StressShock("crash", "WETH", -0.2, {"WBTC": 0.5})
    scenario = stress_scenario(shock, prices)
    assert scenario == Scenario("stress:crash", "stress", "crash", "WETH", 2400.0,
                                {"WBTC": 0.5})
    assert stress_scenario(StressShock("x", "SOL", -0.1), prices) is None
    settings = load_settings(environ={})
    unobserved = ObservedDepth(settings.assets, settings.cascade.depth_quotes)  # no pools
    model = contagion_model(scenario, settings, prices, unobserved.model_for)
    assert model.betas["WETH"] == {"WBTC": 0.5} and model.betas["WBTC"] == {"BTC": 1.0,
                                                                           "WETH": 1.0}
    assert model.depths.keys() == {"WETH", "WBTC", "USDC"}
    body = served(project_contagion([], "WETH", prices, 2400.0, model), scenario, 4, 1.0,
                  {"WETH": (7, 0)})
    assert body["shock_move"] == pytest.approx(-0.2) and body["terminal_price"] == 2400.0
    assert body["terminal_move"] == {"WETH": pytest.approx(-0.2), "WBTC": pytest.approx(-0.1)}
    assert body["liquidated_usd_by_protocol"] == {} and body["rounds"] == 0
    assert body["price_versions"] == {"WETH": [7, 0]} and body["partitions"] == 4
