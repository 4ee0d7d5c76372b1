"""Benchmark: a price move → the position-near-liquidation webhook received, at idle and under
a background load of position events, this design beside a baseline revision in the same run.

python benchmarks/position_alert.py [--moves 30] [--rounds 2] [--load 1000] [--positions 5000]
                                    [--baseline REV | --no-baseline]

Each round and design: a fresh Tansu broker, one worker from the design's checkout (the
baseline's in a temporary git worktree), prices, --positions small lending positions and one
$30M WETH/USDC position at health factor 1.10. Then --moves moves of WETH alternate between
a price that puts that position at 1.01 (the default rule fires within 2 % of liquidation) and
back to 1.10 (it resolves above 1.03), each one notification to a webhook receiver on 127.0.0.1;
at idle, then while newer versions of the small positions arrive at --load events/s (the
books change, so the alert scans compete with a backfill's derived work for the budget).
Prints one JSON object: ms from the price handed to the producer to the webhook's arrival,
p50/p99/max per design and phase (all rounds pooled), and the baseline's p50 over this one's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer
from alert_latency import Bench
from designs import Design, designs, get, percentiles, worker_running
from freshness import START, snapshot

from monitor.run.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.receivers import Receiver, receiving  # noqa: E402

BASELINE = "812db1b"  # the commit before position scans became urgent on a price move
RULE = "position-near-liquidation"
PRICE = 3000.0  # WETH, where the large position's health factor is 1.10
NEAR = PRICE * 1.01 / 1.10  # health factor 1.01


def model() -> str:
    """The bench receiver, for the position rule's notifications only (default rule)."""
    return "\n".join([
        "[alerts.receivers.console]", 'kind = "console"', "enabled = false",
        "[alerts.receivers.bench]", 'kind = "webhook"', 'url_env = "BENCH_URL"',
        'secret_env = "BENCH_SECRET"', f'match = {{alertname = "{RULE}"}}', ""])


def large() -> bytes:
    """10,000 WETH of collateral ($30M) against the USDC debt that puts it at 1.10."""
    return orjson.dumps({
        "position_id": "bench:large", "protocol": "aave-v3", "account": "0x" + "ab" * 20,
        "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 10_000.0, "liquidation_threshold": 0.825,
                        "liquidation_bonus": 0.05}],
        "debt": [{"asset": "USDC", "amount": 10_000.0 * PRICE * 0.825 / 1.10}],
        "version": [1, 0], "timestamp": 1.7e9})


async def ready(base: str) -> None:
    """Wait for the worker's /health/ to answer 200."""
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while (await get(session, f"{base}/health/"))[0] != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} not ready")
            await asyncio.sleep(0.2)


async def phases(bootstrap: str, base: str, hook: Receiver, args: argparse.Namespace
                 ) -> dict[str, list[float]]:
    """Idle and loaded moves against one ready worker."""
    await ready(base)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        run = Bench(producer, hook, args.positions)
        await run.price("USDC", 1.0)
        await run.price("WETH", PRICE)
        await run.price("WBTC", START["WBTC"])
        await producer.send("positions", key=b"bench:large", value=large())
        for i in range(args.positions):
            await producer.send("positions", key=f"bench:{i}".encode(),
                                value=orjson.dumps(snapshot(i, 1)))
        await producer.flush()
        await asyncio.sleep(5.0)  # loaded and projected
        idle = await run.moves(args.moves, "WETH", NEAR, PRICE)
        stop = asyncio.Event()
        loader = asyncio.create_task(run.load(args.load, stop))
        await asyncio.sleep(3.0)
        loaded = await run.moves(args.moves, "WETH", NEAR, PRICE)
        stop.set()
        await loader
        return {"idle": idle, "load": loaded}
    finally:
        await producer.stop()


def measure(design: Design, args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    """One round of one design on a fresh broker."""
    with EmbeddedBroker(log_path=tmp / "tansu.log") as broker, receiving() as hook:
        config = tmp / "model.toml"
        config.write_text(model())
        data = tmp / f"data-{time.time_ns()}"
        with worker_running(design, broker.url, data, tmp / "worker.log",
                            MONITOR_CONFIG=str(config), BENCH_URL=hook.url,
                            BENCH_SECRET="whsec_YmVuY2ggc2VjcmV0IG9mIDI0IGJ5dGVz") as (base, _):
            return asyncio.run(phases(broker.bootstrap, base, hook, args))


def main() -> None:
    """Interleave the designs round by round; print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=30, help="price moves per phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load", type=float, default=1000.0, help="position events/s")
    parser.add_argument("--positions", type=int, default=5000, help="small positions")
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--no-baseline", action="store_true", help="measure this design only")
    args = parser.parse_args()
    if args.moves % 2:
        parser.error("--moves: an even number (each pair fires the alert and resolves it)")
    pooled: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="position-alert-") as tmp, \
            designs(None if args.no_baseline else args.baseline) as checkouts:
        for r in range(args.rounds):
            for design in checkouts:
                print(f"position_alert: round {r + 1}/{args.rounds}: {design.name}",
                      file=sys.stderr)
                got = measure(design, args, Path(tmp))
                for phase, samples in got.items():
                    pooled.setdefault(design.name, {}).setdefault(phase, []).extend(samples)
    out: dict[str, Any] = {"benchmark": "position_alert", "moves_per_phase": args.moves,
                           "rounds": args.rounds, "load_events_per_s": args.load,
                           "positions": args.positions + 1,
                           "load_average": round(os.getloadavg()[1], 1),
                           "ms": {name: {phase: percentiles(samples)
                                         for phase, samples in phases_.items()}
                                  for name, phases_ in pooled.items()}}
    if len(checkouts) == 2:
        this, base = (out["ms"][d.name] for d in checkouts)
        out["baseline_p50_over_this"] = {phase: round(base[phase]["p50"] / this[phase]["p50"], 2)
                                         for phase in this}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
