"""No input can crash, freeze or poison the pipeline: the records issue 10 found and hypothesis'
hostile records on every input topic, then hostile requests on every endpoint, against one
worker on Tansu. Every record is accounted for (applied, stale, forwarded or dead-lettered,
and the dead-letter topic holds exactly what the counters say), no agent crashes, and the
views move on with the next good record."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.risk import ClusterGrid, build_clusters, from_snapshot
from monitor.run.broker import EmbeddedBroker
from tests.integration.hostile import CANARY, PATHS, any_records
from tests.integration.market import (
    N_POSITIONS,
    PRICES,
    close,
    price,
    snapshot,
)
from tests.integration.stream_harness import (
    Worker,
    count_records,
    eventually,
    metric_values,
    produce,
    serving,
    worker_settings,
)

pytestmark = pytest.mark.integration
APP = "poison"
INTERNAL = {name: f"{APP}-{name}" for name in ("positions-by-id", "cluster-partials",
                                               "alert-deliveries")}
FUZZ = settings(max_examples=6, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def worker(module_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Worker]:
    """One worker holding the test market, its prices and a canary position."""
    tmp = tmp_path_factory.mktemp("poison")
    config = worker_settings(module_broker.url, tmp / "data", app_id=APP)
    with serving(config, tmp / "worker.log") as started:
        produce(module_broker.bootstrap,
                [("prices", a, price(a, p)) for a, p in {**PRICES, CANARY: 10.0}.items()]
                + [("positions", s["position_id"], s)
                   for s in (snapshot(i) for i in range(N_POSITIONS))])
        eventually(lambda: levels_match(started, PRICES["WETH"]))
        yield started


def levels_match(worker: Worker, weth: float) -> None:
    """/clusters/WETH/ holds the test market's levels at this WETH price."""
    status, body = worker.get("/clusters/WETH/")
    assert status == 200, (status, body)
    assert body["price"] == weth, body["price"]
    market = [from_snapshot(snapshot(i)) for i in range(N_POSITIONS)]
    expected = build_clusters(market, "WETH", {**PRICES, "WETH": weth},
                              ClusterGrid(step=body["grid_step"]))
    assert close(body["levels"], [level.to_dict() for level in expected.levels])


def canary(worker: Worker, bootstrap: str, n: int) -> None:
    """A good position and price after the poison: both views must show them."""
    pid = "canary:1:0xc"
    produce(bootstrap, [
        ("prices", CANARY, price(CANARY, 10.0 + n, version=n + 1)),
        ("positions", pid, {"position_id": pid, "protocol": "aave-v3", "account": "0xc",
                            "kind": "lending", "version": [n, 0], "timestamp": 1.7e9,
                            "collateral": [{"asset": CANARY, "amount": float(n),
                                            "liquidation_threshold": 0.8}],
                            "debt": [{"asset": "USDC", "amount": 1.0}]})])

    def shown() -> None:
        status, body = worker.get(f"/positions/{pid}/")
        assert status == 200 and body["version"] == [n, 0], (status, body)
        status, body = worker.get(f"/clusters/{CANARY}/")
        assert status == 200 and body["price"] == 10.0 + n, (status, body)
        liquidation = 1.0 / (0.8 * n)  # USDC debt 1 over n CANARY at threshold 0.8
        assert [lvl["price_low"] <= liquidation <= lvl["price_high"]
                for lvl in body["levels"]] == [True], body["levels"]
    eventually(shown)


def accounted(worker: Worker, bootstrap: str) -> None:
    """Every record of every public input topic has an outcome; the dead-letter topic holds
    exactly the dead letters counted, and none failed."""
    processed = metric_values(worker, "monitor_events_processed_total")
    for topic in ("positions", "prices", "alerts"):
        handled = sum(v for labels, v in processed.items() if ("topic", topic) in labels)
        assert handled == count_records(bootstrap, topic), topic
    letters = sum(metric_values(worker, "monitor_dead_letters_total").values())
    assert letters == count_records(bootstrap, "dead-letters")
    assert not any(metric_values(worker, "monitor_dead_letter_failures_total").values())


def unharmed(worker: Worker) -> None:
    """The worker runs and no agent crashed (Faust logs a crash, then restarts the agent)."""
    assert worker.process.poll() is None
    log = Path(worker.log).read_text(errors="replace")
    assert "Crashed" not in log and "Traceback" not in log, log[-3000:]


def test_the_poison_issue_10_found_is_dead_lettered_and_changes_nothing(
        worker: Worker, module_broker: EmbeddedBroker) -> None:
    base = snapshot(1)
    pid = base["position_id"]
    poison: list[tuple[str, str | bytes, Any]] = [
        ("positions", pid, b"\xff" * 2**20),
        ("positions", pid, {**base, "version": [5, 0], "collateral": [
            {**base["collateral"][0], "amount": 1e308}]}),
        ("positions", pid, {**base, "version": [6, 0], "collateral": [
            {"asset": f"UNPRICED{i}", "amount": 1.0, "liquidation_threshold": 0.8}
            for i in range(1000)]}),
        ("positions", pid, {**base, "version": [2**64 - 1, 0]}),
        ("positions", "p:1:0xé", {**base, "position_id": "p:1:0xé"}),
        ("positions", "x" * 300, {**base, "position_id": "x" * 300}),
        ("prices", "WETH", price("WETH", 3000.0, version=2**64 - 1)),
        ("prices", "WETH", price("WETH", 1e308, version=3)),
        # a feed stale on arrival: its staleness wake-up once re-armed itself in the past,
        # holding the event loop for good
        ("prices", "STALEFEED", {**price("STALEFEED", 1.0), "timestamp": 1.7e9}),
    ]
    produce(module_broker.bootstrap, poison)
    produce(module_broker.bootstrap, [("prices", "WETH", price("WETH", 2990.0, version=4))])
    eventually(lambda: levels_match(worker, 2990.0))  # a tick after the poison moves the view
    canary(worker, module_broker.bootstrap, 1)
    eventually(lambda: accounted(worker, module_broker.bootstrap))
    dead = metric_values(worker, "monitor_dead_letters_total")
    assert dead[frozenset({("topic", "positions"), ("reason", "oversized-record")})] == 1
    assert dead[frozenset({("topic", "positions"), ("reason", "over-limit")})] == 1
    assert dead[frozenset({("topic", "positions"), ("reason", "implausible-version")})] == 1
    assert dead[frozenset({("topic", "prices"), ("reason", "implausible-version")})] == 1
    assert dead[frozenset({("topic", "prices"), ("reason", "invalid-price")})] == 1
    unharmed(worker)


ROUND = iter(range(2, 10**6))


@FUZZ
@given(batch=st.lists(any_records(INTERNAL), min_size=1, max_size=25))
def test_hostile_records_on_every_input_topic_are_all_accounted_for(
        worker: Worker, module_broker: EmbeddedBroker,
        batch: list[tuple[str, bytes | None, bytes | None]]) -> None:
    produce(module_broker.bootstrap, batch)
    canary(worker, module_broker.bootstrap, next(ROUND))
    eventually(lambda: accounted(worker, module_broker.bootstrap))
    unharmed(worker)


JSON_PATHS = ("/positions/", "/clusters/", "/cascades/", "/alerts/", "/health/")


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(request=PATHS)
def test_hostile_requests_answer_4xx_or_an_honest_503_never_an_error(
        worker: Worker, request: tuple[str, str]) -> None:
    template, segment = request
    path = template.format(urllib.parse.quote(segment, safe="%"))
    url = f"http://127.0.0.1:{worker.settings.web_port}{path}"
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=worker.settings.route_timeout + 5) as response:
            status, body, kind = response.status, response.read(), response.headers.get(
                "Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    assert status < 500 or status == 503, (path, status, body[:300])
    assert time.monotonic() - started < worker.settings.route_timeout + 5
    if path.startswith(JSON_PATHS) and status in (200, 400, 503):
        assert "json" in kind, (path, status, kind)
        json.loads(body)
    unharmed(worker)
