"""Placement is the app's own, whatever client produced the input: snapshots written with
confluent-kafka (librdkafka, whose default partitioner is CRC32) and with aiokafka (murmur2)
are answered right by both workers of a group, the clusters count exactly the positions that
exist, and the same ids updated and closed from alternating clients converge to the newest
version. A record placed on the wrong internal partition is counted, logged and re-placed."""

from __future__ import annotations

import urllib.request
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from monitor.risk import Position, from_snapshot
from monitor.run.broker import EmbeddedBroker
from monitor.stream.context import partition_of
from tests.integration.market import (
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
    eventually,
    produce,
)

pytestmark = pytest.mark.integration
PER_CLIENT = 500
MIXED = 40
PARTITIONS = 4


def librdkafka_produce(bootstrap: str, records: list[tuple[str, str, Any]]) -> list[int]:
    """Send (topic, key, value) with confluent-kafka's defaults; the partition of each record."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    placed: list[int] = []

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        placed.append(message.partition())

    for topic, key, value in records:
        producer.produce(topic, key=key.encode(), value=orjson.dumps(value),
                         on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert len(placed) == len(records)
    return placed


@pytest.fixture(scope="module")
def workers(module_pair: list[Worker], module_broker: EmbeddedBroker) -> list[Worker]:
    """The module's two workers, with the prices published."""
    produce(module_broker.bootstrap, [("prices", a, price(a, p)) for a, p in PRICES.items()])
    return module_pair


@pytest.fixture(scope="module")
def book() -> dict[str, Position]:
    """Every open position the module's tests have published, as they should be served."""
    return {}


def served_exactly(workers: list[Worker], positions: dict[str, Position]) -> None:
    """Every position answers its monitor.risk figures on both workers, and the clusters of
    every asset hold exactly these positions."""
    for pid, position in positions.items():
        for worker in workers:
            status, body = worker.get(f"/positions/{pid}/")
            assert status == 200, (pid, status, body)
            assert body["version"] == list(position.version)
            assert close(answered_position(body), expected_position(position))
    step = workers[0].settings.grid_step
    for asset in ("WETH", "WBTC", "USDC", "DAI"):
        want = expected_levels(list(positions.values()), asset, step)
        for worker in workers:
            status, body = worker.get(f"/clusters/{asset}/")
            assert status == 200 and close(body["levels"], want), asset


def test_librdkafka_and_aiokafka_producers_are_placed_alike(
        module_broker: EmbeddedBroker, workers: list[Worker], book: dict[str, Position]) -> None:
    rdkafka = [snapshot(i) for i in range(PER_CLIENT)]
    aio = [snapshot(i) for i in range(PER_CLIENT, 2 * PER_CLIENT)]
    partitions = librdkafka_produce(module_broker.bootstrap,
                                    [("positions", s["position_id"], s) for s in rdkafka])
    elsewhere = sum(p != partition_of(s["position_id"], PARTITIONS)
                    for p, s in zip(partitions, rdkafka, strict=True))
    assert elsewhere > PER_CLIENT // 2  # CRC32 and murmur2 disagree on most keys
    produce(module_broker.bootstrap, [("positions", s["position_id"], s) for s in aio])
    book.update({s["position_id"]: from_snapshot(s) for s in (*rdkafka, *aio)})
    eventually(lambda: served_exactly(workers, book), timeout=120)


def test_ids_written_by_alternating_clients_converge_to_the_newest_version(
        module_broker: EmbeddedBroker, workers: list[Worker], book: dict[str, Position]) -> None:
    ids = range(5000, 5000 + MIXED)
    for round_ in range(1, 5):
        updates = [snapshot(i, version=round_, debt=[{"asset": "USDC",
                                                      "amount": 1000.0 * round_ + i}])
                   for i in ids]
        closing = round_ == 4
        if closing:  # the last round closes every other id
            updates = [{**u, "closed": True} if i % 2 else u
                       for i, u in zip(ids, updates, strict=True)]
        records = [("positions", u["position_id"], u) for u in updates]
        if round_ % 2:
            librdkafka_produce(module_broker.bootstrap, records)
        else:
            produce(module_broker.bootstrap, records)
    book.update({u["position_id"]: from_snapshot(u)
                 for i, u in zip(ids, updates, strict=True) if not i % 2})
    closed = [u["position_id"] for i, u in zip(ids, updates, strict=True) if i % 2]

    def converged() -> None:
        for pid in closed:
            for worker in workers:
                assert worker.get(f"/positions/{pid}/")[0] == 404, pid
        served_exactly(workers, book)
    eventually(converged, timeout=120)


def test_a_record_on_the_wrong_internal_partition_is_counted_and_replaced(
        module_broker: EmbeddedBroker, workers: list[Worker], book: dict[str, Position]) -> None:
    stray = snapshot(7000)
    pid = stray["position_id"]
    wrong = (partition_of(pid, PARTITIONS) + 1) % PARTITIONS
    topic = f"{workers[0].settings.app_id}-positions-by-id"
    librdkafka = Producer({"bootstrap.servers": module_broker.bootstrap})
    librdkafka.produce(topic, value=orjson.dumps([stray]), partition=wrong)
    assert librdkafka.flush(30) == 0
    book[pid] = from_snapshot(stray)

    def counted() -> None:
        total = 0.0
        for worker in workers:
            url = f"http://127.0.0.1:{worker.settings.web_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                for line in response.read().decode().splitlines():
                    if line.startswith("monitor_misplaced_records_total{"):
                        total += float(line.rsplit(" ", 1)[1])
        assert total == 1.0
        served_exactly(workers, book)
    eventually(counted, timeout=60)
    logs = "".join(w.log.read_text(errors="replace") for w in workers)
    assert f"position {pid!r} arrived on partition {wrong}" in logs
