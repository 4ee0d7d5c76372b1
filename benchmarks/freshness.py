"""Benchmark: freshness, the time from a price event produced to the broker until the web view
reflects it — GET /cascades/WETH/ carries the new price and the levels of GET /clusters/WBTC/
(positions holding WETH and WBTC against USDC, so a WETH move shifts every WBTC level) equal a
recomputation at the new prices.

python benchmarks/freshness.py [--positions 10000,100000] [--moves 60] [--load 1000]
                               [--baseline REV | --no-baseline]

Each configuration runs a fresh Tansu broker and one worker preloaded with the positions, then
makes --moves WETH price moves at idle and as many under a background load of --load position
events/s (re-sent snapshots with newer versions: real work, unchanged levels). The same is run
against the design at git revision --baseline (checked out into a temporary worktree), so both
are measured on the same machine in the same run. Prints one JSON object: p50/p99/max in ms
(a move not reflected within 15 s counts as 15 s and in the phase's `timeouts`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from designs import BASELINE, PARTITIONS, Design, designs, get, percentiles, start_worker

from monitor.localhost import free_port
from monitor.risk import ClusterGrid, PositionBook, from_snapshot
from monitor.run.broker import EmbeddedBroker

WETH_STATES = (3000.0, 2985.0, 3015.0, 2970.0, 3030.0)  # each move goes to the next one
START = {"WETH": WETH_STATES[0], "WBTC": 60_000.0, "USDC": 1.0}
TIMEOUT_S = 15.0
POLL_S = 0.004


def snapshot(i: int, version: int) -> dict[str, Any]:
    """Position i: WETH and WBTC collateral against USDC, health factor 1.05..1.6."""
    rng = random.Random(i)
    debt = rng.lognormvariate(9.5, 1.0)
    hf = 1.05 + 0.55 * rng.random() ** 2
    weth_share = 0.2 + 0.6 * rng.random()
    weighted = hf * debt
    return {"position_id": f"bench:{i}", "protocol": ("aave-v3", "spark")[i % 2],
            "account": f"0x{i:040x}", "kind": "lending",
            "collateral": [
                {"asset": "WETH", "amount": weighted * weth_share / (0.83 * START["WETH"]),
                 "liquidation_threshold": 0.83, "liquidation_bonus": 0.05},
                {"asset": "WBTC", "amount": weighted * (1 - weth_share) / (0.78 * START["WBTC"]),
                 "liquidation_threshold": 0.78, "liquidation_bonus": 0.065}],
            "debt": [{"asset": "USDC", "amount": debt}], "close_factor": 1.0,
            "version": [version, 0], "timestamp": 1.7e9}


def fingerprint(levels: list[dict[str, Any]]) -> tuple[int, float]:
    """(positions, value-weighted mean level price): what a WETH move changes in WBTC's levels."""
    value = sum(lvl["value_usd"] for lvl in levels)
    mean = sum(lvl["value_usd"] * (lvl["price_low"] + lvl["price_high"]) / 2
               for lvl in levels) / value if value else 0.0
    return sum(int(lvl["positions"]) for lvl in levels), mean


def expected(n: int) -> dict[float, tuple[int, float]]:
    """The fingerprint of WBTC's levels at each WETH state, from monitor.risk."""
    book = PositionBook.from_positions(from_snapshot(snapshot(i, 1)) for i in range(n))
    out = {}
    for weth in WETH_STATES:
        clusters = book.clusters("WBTC", {**START, "WETH": weth}, ClusterGrid())
        out[weth] = fingerprint([lvl.to_dict() for lvl in clusters.levels])
    return out


def matches(got: tuple[int, float], want: tuple[int, float]) -> bool:
    """Same positions and the same mean to 1e-9 (sums merge across partitions in any order)."""
    return got[0] == want[0] and abs(got[1] - want[1]) <= 1e-9 * abs(want[1])


async def until(check: Any, timeout: float, pause: float = 0.2) -> None:
    """Await `check()` until it is truthy, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        await asyncio.sleep(pause)


class Run:
    """One worker on one broker, preloaded with n positions."""

    def __init__(self, broker: EmbeddedBroker, port: int, n: int,
                 fingerprints: dict[float, tuple[int, float]]) -> None:
        self.bootstrap, self.base, self.n = broker.bootstrap, f"http://127.0.0.1:{port}", n
        self.fingerprints = fingerprints
        self.version = 1
        self.price_version = 1
        self.state = 0
        self.timeouts = 0  # moves not reflected within TIMEOUT_S

    async def preload(self, producer: AIOKafkaProducer) -> None:
        """Topics, the start prices and every position."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, PARTITIONS, 1)
                                       for t in ("positions", "prices")])
        finally:
            await admin.close()
        for asset, price in START.items():
            await self.price(producer, asset, price)
        for i in range(self.n):
            await producer.send("positions", key=f"bench:{i}".encode(),
                                value=orjson.dumps(snapshot(i, 1)))
        await producer.flush()

    async def price(self, producer: AIOKafkaProducer, asset: str, value: float) -> None:
        """Produce one price update with a newer version and wait for the broker's ack."""
        self.price_version += 1
        await producer.send_and_wait("prices", key=asset.encode(), value=orjson.dumps(
            {"asset": asset, "price": value, "source": "bench",
             "version": [self.price_version, 0], "timestamp": time.time()}))

    async def loaded(self, session: aiohttp.ClientSession) -> bool:
        """Every position is in WBTC's levels at the start prices."""
        status, body = await get(session, f"{self.base}/clusters/WBTC/")
        return status == 200 and body is not None and matches(fingerprint(body["levels"]),
                                         self.fingerprints[WETH_STATES[0]])

    async def move(self, producer: AIOKafkaProducer,
                   session: aiohttp.ClientSession) -> tuple[float, float]:
        """One WETH move: (ms until /cascades/WETH/, ms until WBTC's levels reflect it)."""
        self.state = (self.state + 1) % len(WETH_STATES)
        weth = WETH_STATES[self.state]
        want = self.fingerprints[weth]
        started = time.perf_counter()
        await self.price(producer, "WETH", weth)
        cascade_at: float | None = None
        clusters_at: float | None = None
        while cascade_at is None or clusters_at is None:
            if time.perf_counter() - started > TIMEOUT_S:
                missing = [name for name, at in (("/cascades/WETH/", cascade_at),
                                                 ("/clusters/WBTC/", clusters_at)) if at is None]
                print(f"freshness: WETH {weth}: {', '.join(missing)} not there within "
                      f"{TIMEOUT_S:g} s (counted as {TIMEOUT_S:g} s)", file=sys.stderr, flush=True)
                self.timeouts += 1
                late = started + TIMEOUT_S
                cascade_at, clusters_at = cascade_at or late, clusters_at or late
                break
            if cascade_at is None:
                status, body = await get(session, f"{self.base}/cascades/WETH/")
                if status == 200 and body["price"] == weth:
                    cascade_at = time.perf_counter()
            if clusters_at is None:
                status, body = await get(session, f"{self.base}/clusters/WBTC/")
                if status == 200 and matches(fingerprint(body["levels"]), want):
                    clusters_at = time.perf_counter()
            await asyncio.sleep(POLL_S)
        return (cascade_at - started) * 1e3, (clusters_at - started) * 1e3

    async def load(self, producer: AIOKafkaProducer, rate: float, stop: asyncio.Event) -> int:
        """Re-send snapshots (newer versions, same content) at `rate` per second until stopped."""
        sent, started = 0, time.perf_counter()
        for i in itertools.cycle(range(self.n)):
            if stop.is_set():
                break
            if i == 0:
                self.version += 1
            await producer.send("positions", key=f"bench:{i}".encode(),
                                value=orjson.dumps(snapshot(i, self.version)))
            sent += 1
            ahead = sent / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        return sent


async def measure(run: Run, moves: int, rate: float) -> dict[str, dict[str, Any]]:
    """Moves at idle, then under load; the latencies of each phase."""
    producer = AIOKafkaProducer(bootstrap_servers=run.bootstrap, linger_ms=2)
    await producer.start()
    phases: dict[str, dict[str, Any]] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await run.preload(producer)
            await until(lambda: run.loaded(session), timeout=600, pause=0.5)
            for phase in ("idle", "load"):
                stop = asyncio.Event()
                loader = (asyncio.create_task(run.load(producer, rate, stop))
                          if phase == "load" else None)
                if loader:
                    await asyncio.sleep(2.0)  # let the load reach its rate
                samples, timeouts = [], run.timeouts
                for _ in range(moves):
                    samples.append(await run.move(producer, session))
                    await asyncio.sleep(random.uniform(0.05, 0.25))
                stop.set()
                sent = await loader if loader else 0
                phases[phase] = {"cascades_ms": percentiles([s[0] for s in samples]),
                                 "clusters_ms": percentiles([s[1] for s in samples]),
                                 "both_ms": percentiles([max(s) for s in samples]),
                                 "background_events": sent,
                                 "timeouts": run.timeouts - timeouts}
    finally:
        await producer.stop()
    return phases


def one(design: Design, n: int, moves: int, rate: float,
        fingerprints: dict[float, tuple[int, float]], tmp: Path) -> dict[str, Any]:
    """Run one design at one book size."""
    print(f"freshness: {design.name}, {n:,} positions", file=sys.stderr, flush=True)
    log = Path(os.environ.get("FRESHNESS_LOGS", tmp)) / f"{design.name}-{n}.log"
    with EmbeddedBroker() as broker:
        port = free_port()
        worker = start_worker(design, broker.url, port, tmp / f"{design.name}-{n}", log,
                              app_id="freshness")
        try:
            phases = asyncio.run(measure(Run(broker, port, n, fingerprints), moves, rate))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    return {"design": design.name, "positions": n, **phases}


def main() -> None:
    """Run every configuration and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", default="10000,100000",
                        help="book sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--moves", type=int, default=60, help="price moves per phase (60)")
    parser.add_argument("--load", type=float, default=1000.0,
                        help="background position events/s in the load phase (1000)")
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"git revision of the design to compare with ({BASELINE})")
    parser.add_argument("--no-baseline", action="store_true", help="measure this design only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.positions.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        fingerprints = {n: expected(n) for n in sizes}
        with designs(None if args.no_baseline else args.baseline) as checkouts:
            for n in sizes:
                for design in checkouts:
                    results.append(one(design, n, args.moves, args.load, fingerprints[n],
                                       Path(tmp)))
    print(json.dumps({"benchmark": "freshness", "moves_per_phase": args.moves,
                      "load_events_per_s": args.load, "partitions": PARTITIONS,
                      "results": results}))


if __name__ == "__main__":
    main()
