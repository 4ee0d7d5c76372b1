"""Benchmark: what one maximal record costs a price tick. A worker on the embedded Tansu broker
holds --positions WETH-backed positions; a USDC tick is timed from its production until
GET /clusters/WETH/ carries its version, --ticks times, first as it is, then after one
position with the most legs and distinct assets the limits allow (MONITOR_MAX_LEGS legs over
MONITOR_MAX_ASSETS assets, all but WETH and USDC unpriced) and after the issue's record (1,000
distinct unpriced collateral assets, dead-lettered as over-limit).

python benchmarks/poison.py [--positions 2000] [--ticks 30]

Prints one JSON object: tick latency percentiles (ms) without and with the maximal record, and
their ratio (issue 10 asks for at most 2).
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
import orjson
from aiokafka import AIOKafkaProducer
from designs import ROOT, Design, get, percentiles, worker_running

from monitor.limits import Limits
from monitor.run.broker import EmbeddedBroker

LIMITS = Limits()


def lending(i: int, collateral: list[dict[str, Any]], version: int = 1) -> bytes:
    """A lending snapshot with these collateral legs and USDC debt."""
    return orjson.dumps({
        "position_id": f"bench:{i}", "protocol": "aave-v3", "account": f"0x{i:040x}",
        "kind": "lending", "collateral": collateral,
        "debt": [{"asset": "USDC", "amount": 1500.0 + i % 89 * 10}],
        "version": [version, 0], "timestamp": 1.7e9})


def weth(i: int) -> list[dict[str, Any]]:
    """One WETH collateral leg."""
    return [{"asset": "WETH", "amount": 1.0 + i % 97, "liquidation_threshold": 0.825,
             "liquidation_bonus": 0.05}]


def maximal(i: int) -> bytes:
    """The costliest position the limits admit: max_legs legs over max_assets assets."""
    assets = ["WETH", *(f"UNPRICED{k}" for k in range(LIMITS.max_assets - 2))]
    legs = [{"asset": assets[k % len(assets)], "amount": 1.0, "liquidation_threshold": 0.8}
            for k in range(LIMITS.max_legs - 1)]
    return lending(i, legs)


def issue_record(i: int) -> bytes:
    """Issue 10's record: 1,000 distinct unpriced collateral assets."""
    return lending(i, [{"asset": f"UNPRICED{k}", "amount": 1.0, "liquidation_threshold": 0.8}
                       for k in range(1000)])


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: bytes) -> None:
    """One record, acknowledged."""
    await producer.send_and_wait(topic, key=key.encode(), value=value)


def usdc(version: int) -> bytes:
    """A USDC price update (its value moves so every tick changes the levels)."""
    return orjson.dumps({"asset": "USDC", "price": 1.0 + version * 1e-5,
                         "version": [version, 0], "timestamp": time.time()})


async def ticks(session: aiohttp.ClientSession, producer: AIOKafkaProducer, base: str,
                first: int, count: int) -> list[float]:
    """Milliseconds from each USDC tick's production to /clusters/WETH/ carrying it."""
    latencies = []
    for version in range(first, first + count):
        sent = time.perf_counter()
        await send(producer, "prices", "USDC", usdc(version))
        while True:
            status, body = await get(session, f"{base}/clusters/WETH/")
            if status == 200 and body["price_versions"].get("USDC") == [version, 0]:
                break
            if time.perf_counter() - sent > 60:
                raise TimeoutError(f"tick {version} not served: {status} {str(body)[:300]}")
            await asyncio.sleep(0.01)
        latencies.append((time.perf_counter() - sent) * 1e3)
        await asyncio.sleep(0.2)
    return latencies


async def measure(bootstrap: str, base: str, positions: int, count: int) -> dict[str, Any]:
    """Tick latencies without, then with, the maximal record."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while (await get(session, f"{base}/health/"))[0] != 200:
                await asyncio.sleep(0.1)
            for asset, price in (("WETH", 3000.0), ("USDC", 1.0)):
                await send(producer, "prices", asset, orjson.dumps(
                    {"asset": asset, "price": price, "version": [1, 0], "timestamp": 1.7e9}))
            for i in range(positions):
                await producer.send("positions", key=f"bench:{i}".encode(),
                                    value=lending(i, weth(i)))
            await producer.flush()
            print("poison: positions sent", file=sys.stderr, flush=True)
            await ticks(session, producer, base, 2, 3)  # the book is loaded and warm
            print("poison: warm", file=sys.stderr, flush=True)
            without = await ticks(session, producer, base, 10, count)
            await send(producer, "positions", f"bench:{positions}", maximal(positions))
            await send(producer, "positions", f"bench:{positions + 1}",
                       issue_record(positions + 1))
            while (await get(session, f"{base}/positions/bench:{positions}/"))[0] != 200:
                await asyncio.sleep(0.05)
            with_maximal = await ticks(session, producer, base, 10 + count, count)
    finally:
        await producer.stop()
    return {"without": without, "with": with_maximal}


def main() -> None:
    """One worker, both measurements, one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker, \
            worker_running(Design("this", ROOT), broker.url, Path(tmp) / "data",
                           Path(tmp) / "worker.log", app_id="bench-poison") as (base, _):
        print("poison: measuring", file=sys.stderr, flush=True)
        found = asyncio.run(measure(broker.bootstrap, base, args.positions, args.ticks))
    ratio = statistics.median(found["with"]) / statistics.median(found["without"])
    print(json.dumps({
        "benchmark": "poison", "positions": args.positions, "ticks": args.ticks,
        "max_legs": LIMITS.max_legs, "max_assets": LIMITS.max_assets,
        "tick_ms_without": percentiles(found["without"]),
        "tick_ms_with_maximal_record": percentiles(found["with"]),
        "p50_ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
