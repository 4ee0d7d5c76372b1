"""Benchmark: joint cross-protocol contagion for 1e5 positions across 4 partitions.

python benchmarks/contagion.py [--positions 100000] [--moves 30] [--workers 1|2]

In process: the joint projection (monitor.risk JointCascade over 4 BookSteps, one per
partition of the app's hash, each position looked up from its stored bytes as the worker
decodes it) of WETH's down trigger and of the configured stress shocks.
In the stream (a fresh Tansu broker, --workers workers sharing the 4 partitions, the positions
preloaded): --moves small WETH price moves, each timed from the price event produced until
GET /cascades/WETH/ serves the single-asset projection at the new price, and until it serves
the joint projection (`contagion.down`) computed with the new price version; then the same
single-asset timing with a worker whose `[contagion] enabled = false`, on the same broker and
book. Prints one JSON object (milliseconds: p50, p99, max).
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
from designs import get, percentiles

from monitor.config import Settings, load_settings
from monitor.localhost import free_port
from monitor.risk import JointCascade, Position, PositionBook, from_snapshot, run_joint
from monitor.risk.contagion_step import BookStep
from monitor.risk.market_prices import market_pairs
from monitor.run.broker import EmbeddedBroker
from monitor.stream.contagion.scenarios import Scenario, contagion_model, stress_scenario
from monitor.stream.context import partition_of
from monitor.stream.depth.observed import ObservedDepth
from monitor.stream.positions.decoded import Decoded
from monitor.stream.positions.stored import stored_value
from monitor.stream.worker import start_worker_process, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.unit import contagion_market  # noqa: E402

PARTITIONS = 4
SEED = 0
TIMEOUT_S = 60.0
POLL_S = 0.004
MOVE = 0.0005  # each WETH move: ±0.05 % around the start price (the trigger stays put)
STEADY_S = 30.0


def in_process(snapshots: list[dict[str, Any]], prices: dict[str, float], settings: Settings,
               trigger: float, repeats: int = 5) -> dict[str, Any]:
    """Median ms of each scenario's joint projection over 4 column books, and its figures."""
    positions = [from_snapshot(s) for s in snapshots]
    parts = [[p for p in positions if partition_of(p.position_id, PARTITIONS) == k]
             for k in range(PARTITIONS)]
    books = [PositionBook.from_positions(part) for part in parts]
    stored = {s["position_id"]: stored_value(s) for s in snapshots}
    decoded = Decoded()

    def find(position_id: str) -> Position | None:
        """A position decoded from its stored bytes, as the worker's table lookup does."""
        return decoded.position(position_id, stored.get(position_id))
    scenarios = [Scenario("WETH:down", "trigger", "down", "WETH", trigger)]
    scenarios += [s for shock in settings.contagion.stress
                  if (s := stress_scenario(shock, prices)) is not None]
    out: dict[str, Any] = {}
    for scenario in scenarios:
        depth = ObservedDepth(settings.assets, settings.cascade.depth_quotes)  # no pools seen
        model = contagion_model(scenario, settings, prices, depth.model_for)
        took = []
        for _ in range(repeats):
            started = time.perf_counter()
            done = run_joint(JointCascade(scenario.asset, prices, scenario.shock_price, model),
                             [BookStep(book, find, market_pairs(part))
                              for book, part in zip(books, parts, strict=True)])
            took.append((time.perf_counter() - started) * 1e3)
        out[scenario.run] = {"ms": round(statistics.median(took), 1), "rounds": done.rounds,
                             "liquidated_usd": round(done.liquidated_usd)}
    return out


async def preload(bootstrap: str, snapshots: list[dict[str, Any]],
                  prices: dict[str, float]) -> None:
    """The start prices and every snapshot."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await producer.start()
    try:
        for asset, price in prices.items():
            await producer.send("prices", key=asset.encode(), value=orjson.dumps(
                {"asset": asset, "price": price, "source": "bench", "version": [1, 0],
                 "timestamp": time.time()}))
        for snap in snapshots:
            await producer.send("positions", key=snap["position_id"].encode(),
                                value=orjson.dumps(snap))
        await producer.flush()
    finally:
        await producer.stop()


async def until(check: Any, timeout: float, pause: float) -> None:
    """Await `check()` until it is truthy, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not get there in time")
        await asyncio.sleep(pause)


async def moves(group: list[Settings], bootstrap: str, start: float, n: int, count: int,
                version: int, joint: bool) -> tuple[dict[str, Any], int]:
    """Time `count` WETH moves on workers holding n positions: single-asset (and joint)."""
    base = f"http://127.0.0.1:{group[0].web_port}"
    single: list[float] = []
    contagion: list[float] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            seen = {"held": -1, "since": time.monotonic()}

            async def loaded() -> bool:
                held = 0
                for settings in group:
                    status, body = await get(session,
                                             f"http://127.0.0.1:{settings.web_port}/health/")
                    held += body["positions"] if status == 200 else 0
                if held != seen["held"]:
                    seen.update(held=held, since=time.monotonic())
                # every position, or (a rebalance lost some) a count steady for STEADY_S
                ready = held == n or (held > 0.99 * n
                                      and time.monotonic() - seen["since"] > STEADY_S)
                if not joint:
                    return ready
                status, body = await get(session, f"{base}/cascades/WETH/")
                return ready and status == 200 and body["contagion"]["down"] is not None
            await until(loaded, timeout=1200, pause=1.0)
            for i in range(count):
                version += 1
                price = start * (1 + MOVE * (1 if i % 2 else -1))
                started = time.perf_counter()
                await producer.send_and_wait("prices", key=b"WETH", value=orjson.dumps(
                    {"asset": "WETH", "price": price, "source": "bench", "version": [version, 0],
                     "timestamp": time.time()}))
                single_at = joint_at = None
                while single_at is None or (joint and joint_at is None):
                    if time.perf_counter() - started > TIMEOUT_S:
                        raise TimeoutError(f"move {i}: not served within {TIMEOUT_S}s")
                    status, body = await get(session, f"{base}/cascades/WETH/")
                    now = time.perf_counter()
                    if status == 200 and single_at is None and body["price"] == price:
                        single_at = now
                    found = body["contagion"]["down"] if status == 200 else None
                    if found is not None and joint_at is None \
                            and found["price_versions"].get("WETH") == [version, 0]:
                        joint_at = now
                    await asyncio.sleep(POLL_S)
                single.append((single_at - started) * 1e3)
                if joint_at is not None:
                    contagion.append((joint_at - started) * 1e3)
                await asyncio.sleep(0.3)
            out: dict[str, Any] = {"positions_held": seen["held"],
                           "single_asset_ms": percentiles(single)}
            if joint:
                out["contagion_ms"] = percentiles(contagion)
                _, body = await get(session, f"{base}/cascades/WETH/")
                out["trigger_price"] = body["down"]["trigger_price"]
                out["served_trigger_contagion"] = {
                    k: body["contagion"]["down"][k] for k in (
                        "shock_price", "rounds", "liquidated_usd", "bad_debt_usd",
                        "terminal_price", "liquidated_usd_by_protocol")}
    finally:
        await producer.stop()
    return out, version


def workers(broker: EmbeddedBroker, tmp: Path, model: Path, name: str,
            count: int) -> tuple[list[Settings], list[Any]]:
    """`count` workers of app `name` on the broker, started and ready."""
    group, processes = [], []
    for i in range(count):
        settings = load_settings(model, environ={}).with_overrides(
            broker=broker.url, web_port=free_port(), data_dir=tmp / f"{name}-{i}", app_id=name,
            partitions=PARTITIONS, broker_flavor="tansu")
        group.append(settings)
        processes.append(start_worker_process(settings, (tmp / f"{name}-{i}.log").open("ab"),
                                              "WARNING"))
    for settings, process in zip(group, processes, strict=True):
        wait_until_ready(settings, process, timeout=120)
    return group, processes


def main() -> None:
    """Run both parts and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    args = parser.parse_args()
    snapshots, prices = contagion_market.snapshots(args.positions, SEED)
    positions = [from_snapshot(s) for s in snapshots]
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        model = contagion_market.model_file(tmp / "model.toml",
                                            contagion_market.model(positions, prices))
        off = tmp / "off.toml"
        off.write_text(model.read_text() + "\n[contagion]\nenabled = false\n")
        result: dict[str, Any] = {"positions": args.positions, "partitions": PARTITIONS,
                                  "workers": args.workers, "moves": args.moves}
        with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
            asyncio.run(preload(broker.bootstrap, snapshots, prices))
            version = 1
            for name, path, joint in (("contagion-on", model, True),
                                      ("contagion-off", off, False)):
                group, processes = workers(broker, tmp, path, name, args.workers)
                try:
                    result[name], version = asyncio.run(moves(
                        group, broker.bootstrap, prices["WETH"], args.positions, args.moves,
                        version, joint))
                finally:
                    for process in processes:
                        process.terminate()
                    for process in processes:
                        process.wait(timeout=30)
        trigger = float(result["contagion-on"]["trigger_price"])
        result["in_process"] = in_process(snapshots, prices, load_settings(model, environ={}),
                                          trigger)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
