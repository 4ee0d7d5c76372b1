"""Benchmark: the positions path on the embedded Tansu broker, this design beside the baseline
(one positions agent, no placement hop) in the same run.

python benchmarks/stream.py [--events 20000] [--repeat 3] [--updates 50]
                            [--baseline REV | --no-baseline]

Each round starts a fresh broker, preloads --events snapshots into `positions` with a plain
aiokafka producer, starts one worker and times it from readiness (GET /health/ 200) through the
backlog (its applied-snapshots counter), then measures --updates single updates at idle: a
newer version of one position produced, until GET /positions/{id}/ serves it. The difference
of the two designs' latencies is what the placement hop adds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from designs import (
    BASELINE,
    Design,
    designs,
    get,
    percentiles,
    preload,
    snapshot,
    worker_running,
)

from monitor.run.broker import EmbeddedBroker

TIMEOUT_S = 600.0


async def applied(session: aiohttp.ClientSession, base: str) -> float:
    """The worker's count of applied snapshots (the keeper's, or the one agent's)."""
    try:
        async with session.get(f"{base}/metrics") as response:
            text = (await response.read()).decode()
    except (aiohttp.ClientError, OSError):
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith("monitor_events_processed_total{") and 'outcome="applied"' in line \
                and ('topic="positions"' in line or '-positions-by-id"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def measure(bootstrap: str, base: str, events: int, updates: int) -> dict[str, Any]:
    """Readiness, backlog rate and idle update latency of a started worker."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while (await get(session, f"{base}/health/"))[0] != 200:
            if time.monotonic() - started > TIMEOUT_S:
                raise TimeoutError("worker not ready")
            await asyncio.sleep(0.05)
        ready = time.monotonic() - started
        first, t0 = await applied(session, base), time.perf_counter()
        while (count := await applied(session, base)) < events:
            await asyncio.sleep(0.05)
        rate = (count - first) / (time.perf_counter() - t0)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        latencies = []
        try:
            for n in range(updates):
                i, version = n * 7919 % events, 2 + n
                sent = time.perf_counter()
                await producer.send_and_wait("positions", key=f"bench:{i}".encode(),
                                             value=snapshot(i, version))
                while True:
                    status, body = await get(session, f"{base}/positions/bench:{i}/")
                    if status == 200 and body["version"][0] == version:
                        break
                    if time.perf_counter() - sent > 30:
                        raise TimeoutError(f"update {n} not served")
                    await asyncio.sleep(0.002)
                latencies.append((time.perf_counter() - sent) * 1e3)
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()
    return {"ready_s": ready, "events_per_s": rate, "update_ms": latencies}


def one_round(design: Design, events: int, updates: int, tmp: Path) -> dict[str, Any]:
    """One fresh broker and worker of one design."""
    with EmbeddedBroker() as broker:
        asyncio.run(preload(broker.bootstrap, events))
        with worker_running(design, broker.url, tmp / f"{design.name}-{time.time()}",
                            tmp / f"{design.name}.log", app_id="bench-stream") as (base, _):
            return asyncio.run(measure(broker.bootstrap, base, events, updates))


def main() -> None:
    """Interleave the designs' rounds and print medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "stream", "events_per_round": args.events,
                           "rounds": args.repeat, "updates_per_round": args.updates}
    with tempfile.TemporaryDirectory() as tmp, \
            designs(None if args.no_baseline else args.baseline) as checkouts:
        rounds: dict[str, list[dict[str, Any]]] = {d.name: [] for d in checkouts}
        for r in range(args.repeat):
            for design in checkouts:
                print(f"stream: round {r + 1}, {design.name}", file=sys.stderr, flush=True)
                rounds[design.name].append(one_round(design, args.events, args.updates,
                                                     Path(tmp)))
    for name, results in rounds.items():
        out[name] = {
            "worker_ready_s_median": round(statistics.median(r["ready_s"] for r in results), 2),
            "positions_events_per_s_median": round(statistics.median(
                r["events_per_s"] for r in results)),
            "update_served_ms": percentiles([ms for r in results for ms in r["update_ms"]])}
    names = list(rounds)
    if len(names) == 2:
        new, old = (out[n] for n in names)
        out["events_per_s_ratio"] = round(new["positions_events_per_s_median"]
                                          / old["positions_events_per_s_median"], 2)
        out["hop_added_ms_p50"] = round(new["update_served_ms"]["p50"]
                                        - old["update_served_ms"]["p50"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
