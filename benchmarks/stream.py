"""Benchmark: worker readiness time and positions-agent throughput on the embedded Tansu broker.

python benchmarks/stream.py [--events 20000] [--repeat 3]  -> JSON with medians

Each round starts a fresh worker (its readiness is timed from process start to GET /health/ 200),
pre-loads `--events` snapshots into `positions` with a plain aiokafka producer, and times the
worker from the first to the last processed snapshot (read from its /metrics counter).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.config import Settings, load_settings
from monitor.localhost import free_port
from monitor.run.broker import EmbeddedBroker
from monitor.stream.worker import start_worker_process, wait_until_ready

COUNTER = 'monitor_events_processed_total{outcome="applied",topic="positions"}'


def snapshot(round_: int, i: int) -> bytes:
    """A two-leg lending snapshot unique to this round."""
    return orjson.dumps({
        "position_id": f"bench:{round_}:{i}", "protocol": "aave-v3", "account": f"0x{i:040x}",
        "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 1.0 + i % 97, "liquidation_threshold": 0.825,
                        "liquidation_bonus": 0.05}],
        "debt": [{"asset": "USDC", "amount": 1500.0 + i % 89 * 10}],
        "version": [1, 0], "timestamp": 1.7e9})


async def preload(bootstrap: str, round_: int, events: int, partitions: int) -> None:
    """Create the input topics as the worker would, then publish snapshots and prices."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in ("positions", "prices")])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await producer.start()
    try:
        for asset, price in (("WETH", 3000.0), ("USDC", 1.0)):
            await producer.send("prices", key=asset.encode(), value=orjson.dumps(
                {"asset": asset, "price": price, "version": [round_, 0], "timestamp": 1.7e9}))
        for i in range(events):
            await producer.send("positions", key=f"bench:{round_}:{i}".encode(),
                                value=snapshot(round_, i))
        await producer.flush()
    finally:
        await producer.stop()


def applied(settings: Settings) -> float:
    """The worker's count of applied position snapshots."""
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(COUNTER):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def one_round(round_: int, events: int, data: Path) -> tuple[float, float]:
    """(readiness seconds, events per second) of one fresh worker on a fresh broker."""
    with EmbeddedBroker() as broker:
        return _measure(broker, round_, events, data)


def _measure(broker: EmbeddedBroker, round_: int, events: int, data: Path) -> tuple[float, float]:
    """Preload, start a worker, and time it through the backlog."""
    settings = load_settings(environ={}).with_overrides(
        broker=broker.url, web_port=free_port(), data_dir=data / str(round_),
        app_id=f"bench-{round_}", rebalance_timeout=4.0, session_timeout=4.0,
        heartbeat_interval=0.5)
    asyncio.run(preload(broker.bootstrap, round_, events, settings.partitions))
    process = start_worker_process(settings)
    try:
        readiness = wait_until_ready(settings, process, timeout=120)
        start_count, start = applied(settings), time.perf_counter()
        while (count := applied(settings)) < events:
            time.sleep(0.05)
        return readiness, (count - start_count) / (time.perf_counter() - start)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    """Run the rounds and print medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [one_round(r, args.events, Path(tmp)) for r in range(args.repeat)]
    print(json.dumps({
        "benchmark": "stream", "events_per_round": args.events, "rounds": args.repeat,
        "worker_ready_s_median": round(statistics.median(r[0] for r in rounds), 2),
        "positions_agent_events_per_s_median": round(statistics.median(r[1] for r in rounds)),
    }))


if __name__ == "__main__":
    main()
