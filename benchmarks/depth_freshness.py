"""Benchmark: observed-depth freshness, the time until GET /cascades/WETH/ serves a projection
on the WETH pool's new reserves, from a sale into the pool (its transaction mined: chain to
web) and from the follower's `depth` record produced to the broker (the redesign's freshness
measure, issue 7: p99 ≤ 100 ms at idle).

python benchmarks/depth_freshness.py [--accounts 100] [--moves 50] [--poll-interval 0.05]

One devnet (Aave V3, Morpho Blue, Uniswap v2 pools), one Tansu broker, one worker valuing the
devnet with monitor/devnet_config.toml and one follower of every source (its head polled every
--poll-interval seconds, which the figure includes). Each move sells into the WETH pool until
its spot is 1 % lower, or buys it back 1 % higher; the oracle is not touched, so only the depth
changes. Prints one JSON object: p50/p99/max in ms of both.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from monitor.devnet.devnet import start_devnet
from monitor.run.broker import EmbeddedBroker
from monitor.sources.ingest import manifest_sources
from monitor.wire import DEPTH

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.cascade_truth import DEVNET_MODEL  # noqa: E402
from tests.integration.chain_stack import Stack, stack_for  # noqa: E402

TIMEOUT_S = 30.0
POLL_S = 0.005


class Produced:
    """When the follower produced each `depth` record, by its sorted reserves."""

    def __init__(self, stack: Stack) -> None:
        self.lock, self.at = threading.Lock(), dict[tuple[float, ...], float]()
        published = stack.published
        send = published.send

        async def timed(topic: str, key: str, value: dict[str, Any]) -> None:
            """Send, then note the time the record was handed to the producer."""
            await send(topic, key, value)
            if topic == DEPTH:
                with self.lock:
                    self.at.setdefault(tuple(sorted(value["reserves"])), time.perf_counter())
        published.send = timed  # type: ignore[method-assign]

    def of(self, reserves: tuple[float, float]) -> float:
        """The time the record carrying `reserves` was produced."""
        with self.lock:
            return self.at[tuple(sorted(reserves))]


def served(stack: Stack) -> dict[str, Any] | None:
    """The served WETH projection, or None while there is none."""
    status, body = stack.worker.get("/cascades/WETH/")
    return body if status == 200 and isinstance(body, dict) else None


def on_reserves(body: dict[str, Any] | None, reserves: tuple[float, float]) -> bool:
    """Whether a served projection is built on the pool's `reserves` (any token order)."""
    if body is None or body["depth"]["source"] != "observed":
        return False
    held = sorted(body["depth"]["pools"][0]["reserves"])
    return all(abs(h - r) <= 1e-12 * r for h, r in zip(held, sorted(reserves), strict=True))


def wait_for(stack: Stack, reserves: tuple[float, float]) -> float:
    """The time at which the worker serves a projection on `reserves`."""
    started = time.perf_counter()
    while not on_reserves(served(stack), reserves):
        if time.perf_counter() - started > TIMEOUT_S:
            raise TimeoutError(f"no projection on reserves {reserves} within {TIMEOUT_S}s")
        time.sleep(POLL_S)
    return time.perf_counter()


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max in ms."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": 1e3 * pick(0.5), "p99_ms": 1e3 * pick(0.99), "max_ms": 1e3 * ordered[-1],
            "n": len(ordered)}


def main() -> None:
    """Run the moves and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="depth-freshness-") as tmp, \
            start_devnet(args.accounts, 0) as chain, \
            EmbeddedBroker(log_path=Path(tmp) / "tansu.log") as broker, \
            stack_for(chain, broker, Path(tmp), manifest_sources(chain.manifest),
                      config_path=DEVNET_MODEL) as stack:
        stack.ingester.config.poll_interval = args.poll_interval
        produced = Produced(stack)
        wait_for(stack, chain.pools.reserves("WETH"))
        spot = chain.pools.spot("WETH")
        from_chain, from_broker = [], []
        for i in range(args.moves):
            if i % 2 == 0:
                chain.pools.move(chain.deployer, "WETH", 0.99)
            else:
                chain.pools.arbitrage(chain.deployer, "WETH", spot)
            mined = time.perf_counter()
            reserves = chain.pools.reserves("WETH")
            at = wait_for(stack, reserves)
            from_chain.append(at - mined)
            from_broker.append(at - produced.of(reserves))
    print(json.dumps({"benchmark": "depth_freshness", "accounts": args.accounts,
                      "ingest_poll_interval_s": args.poll_interval,
                      "mined_to_served": percentiles(from_chain),
                      "produced_to_served": percentiles(from_broker)}))


if __name__ == "__main__":
    main()
