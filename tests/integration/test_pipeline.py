"""The streaming pipeline end to end on a real Tansu broker with two workers in one group:
snapshots and prices from a plain aiokafka producer come out of the web view with the numbers
monitor.risk computes, whichever worker is asked; duplicates and stale versions change
nothing; bad input is dead-lettered and the next record is processed."""

from __future__ import annotations

import functools
import itertools
import urllib.request
from typing import Any

import pytest

from monitor.risk import Position, from_snapshot
from monitor.run.broker import EmbeddedBroker
from tests.integration.market import (
    N_POSITIONS,
    PRICES,
    answered_position,
    close,
    expected_levels,
    expected_position,
    price,
    snapshot,
)
from tests.integration.stream_harness import (
    Worker,
    consume_all,
    eventually,
    produce,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workers(module_pair: list[Worker]) -> list[Worker]:
    """The module's two workers."""
    return module_pair


@pytest.fixture(scope="module")
def market(module_broker: EmbeddedBroker, workers: list[Worker]) -> dict[str, Position]:
    """Prices and N_POSITIONS snapshots published, and visible in the web view."""
    produce(module_broker.bootstrap, [("prices", a, price(a, p)) for a, p in PRICES.items()])
    snaps = [snapshot(i) for i in range(N_POSITIONS)]
    produce(module_broker.bootstrap, [("positions", s["position_id"], s) for s in snaps])
    positions = {s["position_id"]: from_snapshot(s) for s in snaps}

    def all_visible() -> None:
        for pid in positions:
            status, body = workers[0].get(f"/positions/{pid}/")
            assert status == 200 and not body["missing_prices"], (pid, status, body)
    eventually(all_visible)
    return positions


def test_positions_match_the_risk_core_whichever_worker_is_asked(
        workers: list[Worker], market: dict[str, Position]) -> None:
    for pid, position in market.items():
        for worker in workers:
            status, body = worker.get(f"/positions/{pid}/")
            assert status == 200
            assert body["position_id"] == pid and body["protocol"] == position.protocol
            assert close(answered_position(body), expected_position(position))


def test_clusters_match_the_risk_core_whichever_worker_is_asked(
        workers: list[Worker], market: dict[str, Position]) -> None:
    step = workers[0].settings.grid_step
    for asset in ("WETH", "WBTC"):
        want = expected_levels(list(market.values()), asset, step)
        assert want

        def levels_match(worker: Worker = workers[0], asset: str = asset,
                         want: list[dict[str, Any]] = want) -> None:
            status, body = worker.get(f"/clusters/{asset}/")
            assert status == 200 and body["price"] == PRICES[asset]
            assert close(body["levels"], want)
        for worker in workers:
            eventually(functools.partial(levels_match, worker))


def test_duplicates_and_out_of_order_versions_leave_the_same_state(
        module_broker: EmbeddedBroker, workers: list[Worker], market: dict[str, Position]) -> None:
    replays = [("positions", s["position_id"], s) for s in (
        *(snapshot(i) for i in range(N_POSITIONS)),                      # duplicates
        *(snapshot(i, version=0, debt=[]) for i in range(N_POSITIONS)))]  # older versions
    closing = snapshot(1, version=5, closed=True)
    produce(module_broker.bootstrap, [*replays, ("positions", closing["position_id"], closing)])
    produce(module_broker.bootstrap,
            [("positions", closing["position_id"], snapshot(1, version=4))])
    closed_id = closing["position_id"]
    eventually(lambda: _assert_status(workers[1], f"/positions/{closed_id}/", 404))
    for pid, position in market.items():
        if pid != closed_id:
            status, body = workers[1].get(f"/positions/{pid}/")
            assert status == 200 and body["version"] == list(position.version)
            assert close(answered_position(body), expected_position(position))


def _assert_status(worker: Worker, path: str, status: int) -> None:
    """Assert GET path answers `status`."""
    assert worker.get(path)[0] == status


def test_malformed_input_is_dead_lettered_and_the_next_record_processed(
        module_broker: EmbeddedBroker, workers: list[Worker], market: dict[str, Position]) -> None:
    good = snapshot(900)
    pid = good["position_id"]
    negative = {**good, "debt": [{"asset": "USDC", "amount": -5.0}]}
    produce(module_broker.bootstrap, [("positions", pid, b"\x00 not json"),
                                      ("positions", pid, negative),
                                      ("prices", "WETH", {"asset": "WETH", "price": "NaN"}),
                                      ("positions", pid, good)])
    eventually(lambda: _assert_status(workers[0], f"/positions/{pid}/", 200))
    letters = consume_all(module_broker.bootstrap, "dead-letters", expected=3)
    reasons = {(letter["topic"], letter["reason"], letter["key"]) for letter in letters}
    assert {("positions", "not-json", pid), ("positions", "invalid-position", pid),
            ("prices", "invalid-price", "WETH")} <= reasons
    assert any(letter["value"] == "\x00 not json" for letter in letters)


def test_unknown_and_malformed_queries(workers: list[Worker], market: dict[str, Position]) -> None:
    for worker, path in itertools.product(workers, ("/positions/nope/", "/clusters/NOPE/",
                                                    "/cascades/NOPE/")):
        status, body = worker.get(path)
        assert status == 404 and "error" in body
    assert workers[0].get("/clusters/WETH/?side=sideways")[0] == 400


def test_cascades_summaries_and_metrics(workers: list[Worker],
                                        market: dict[str, Position]) -> None:
    def projected(worker: Worker) -> None:
        status, body = worker.get("/cascades/WETH/")
        assert status == 200 and body["price"] == PRICES["WETH"]
        assert set(body["down"]) >= {"trigger_price", "amplification", "terminal_price",
                                     "liquidated_usd"}
        index = worker.get("/clusters/")[1]
        assert {"WETH", "WBTC"} <= {entry["asset"] for entry in index["assets"]}
    for worker in workers:
        eventually(functools.partial(projected, worker))
    scraped = ""
    for worker in workers:
        url = f"http://127.0.0.1:{worker.settings.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            scraped += response.read().decode()
    for name in ("monitor_positions_tracked", "monitor_events_processed_total",
                 "monitor_processing_latency_seconds_bucket", "monitor_liquidatable_usd",
                 "monitor_price_timestamp_seconds", "faust_messages_received_total"):
        assert name in scraped, name

