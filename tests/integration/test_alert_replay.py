"""Alerts over the crash-2020-03-12 replay (the mainnet model, 10,000 positions): nothing fires
on the opening book (no always-on alert), a cascade-proximity alert fires while the price is
still above its trigger, and a price oscillating around the jump threshold fires once. Prints
every alert of the replay and why it fired."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from monitor.run.broker import EmbeddedBroker
from monitor.scenario.events import market_events
from monitor.scenario.replay import publish_events
from tests.integration.stream_harness import (
    Worker,
    eventually,
    produce,
    serving,
    worker_settings,
)

pytestmark = pytest.mark.integration

POSITIONS, STEPS, STEP_S = 10_000, 120, 0.1


def read_alerts(bootstrap: str, idle_s: float = 3.0) -> list[dict[str, Any]]:
    """Every record of the `alerts` topic so far, in order per fingerprint (tombstones left
    out), read until nothing new arrives for idle_s."""
    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer("alerts", bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            while batch := await consumer.getmany(timeout_ms=int(idle_s * 1000)):
                for records in batch.values():
                    found.extend(orjson.loads(r.value) for r in records if r.value)
        finally:
            await consumer.stop()
        return sorted(found, key=lambda r: r["at"])
    return asyncio.run(read())


def caught_up(worker: Worker, price: float, positions: int | None = None) -> None:
    """The worker's WETH projection is at `price` (and it holds `positions`, if given)."""
    status, body = worker.get("/cascades/WETH/")
    assert status == 200 and body["price"] == pytest.approx(price), body
    if positions is not None:
        assert worker.get("/health/")[1]["positions"] == positions


def test_crash_replay_alerts_are_few_and_each_has_a_reason(broker: EmbeddedBroker,
                                                          tmp_path: Path) -> None:
    settings = worker_settings(broker.url, tmp_path / "data", app_id="alerts-replay")
    events = list(market_events("crash-2020-03-12", POSITIONS, 0, STEPS, time.time(), STEP_S))
    opening = [e for e in events if e.step == 0]
    with serving(settings, tmp_path / "worker.log") as worker:
        asyncio.run(publish_events(broker.bootstrap, opening))
        weth = next(e for e in opening if e.topic == "prices" and e.key == "WETH")
        eventually(lambda: caught_up(worker, orjson.loads(weth.value)["price"], POSITIONS), 90)
        time.sleep(2.0)  # the opening book's projections and alert passes have run
        assert worker.get("/alerts/")[1]["count"] == 0, worker.get("/alerts/")[1]
        asyncio.run(publish_events(broker.bootstrap, [e for e in events if e.step > 0],
                                   interval=STEP_S))
        last = [e for e in events if e.key == "WETH"][-1]
        eventually(lambda: caught_up(worker, orjson.loads(last.value)["price"]), 90)
        records = read_alerts(broker.bootstrap)
        # a price oscillating around the 10 % jump threshold (11 %, 9 %, 11 %...) fires once
        base = orjson.loads(last.value)["version"][0] + 10
        path = [100.0, 111.0, 101.0, 112.1, 102.0, 113.2]
        produce(broker.bootstrap, [("prices", "OSC", {"asset": "OSC", "price": p,
                                                      "version": [base + i, 0],
                                                      "timestamp": time.time()})
                                   for i, p in enumerate(path)])
        oscillation = eventually(lambda: _settled(broker.bootstrap, len(path) - 2), 30)
    fired = [r for r in records if r["status"] == "firing"]
    print(f"\n{len(fired)} alerts fired over the replay "
          f"({Counter(r['rule'] for r in fired)}):")
    for record in fired:
        print(f"  {record['rule']} {record['labels']}: {record['annotations']['summary']}")
    proximity = [r for r in fired if r["rule"] == "cascade-proximity"]
    assert proximity, "no cascade-proximity alert over the crash"
    assert all(r["value"] > 0 for r in proximity)  # the price has not reached the trigger
    assert [r["status"] for r in oscillation] == ["firing"]


def _settled(bootstrap: str, moves: int) -> list[dict[str, Any]]:
    """The OSC asset's alert records, once they exist."""
    found = [r for r in read_alerts(bootstrap, idle_s=1.0) if r["subject"] == "OSC"]
    assert found
    return found
