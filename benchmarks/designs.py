"""What the stream benchmarks share: the product's worker started from a checkout of this
repository or of an earlier revision (a temporary git worktree), so a design and its baseline
are measured on the same machine in the same run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.localhost import free_port

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "9986339"  # the last commit before the redesign (timers, one positions agent)
PARTITIONS = 4


@dataclass
class Design:
    """A checkout of the product to run workers from."""

    name: str
    root: Path


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """The product at `rev`, in a temporary git worktree removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        path = Path(tmp) / "checkout"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path),
                        rev], check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(path)], check=False)


@contextmanager
def designs(baseline: str | None) -> Iterator[list[Design]]:
    """This checkout, and the baseline revision's unless `baseline` is None."""
    if baseline is None:
        yield [Design("redesign", ROOT)]
        return
    with checkout(baseline) as path:
        yield [Design("redesign", ROOT), Design(f"baseline@{baseline}", path)]


@contextmanager
def worker_running(design: Design, broker: str, data: Path, log: Path, app_id: str = "bench",
                   **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A worker of the design on a free loopback port for the with-block: its base URL and
    process (stopped when the block ends)."""
    port = free_port()
    worker = start_worker(design, broker, port, data, log, app_id, **env)
    try:
        yield f"http://127.0.0.1:{port}", worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def start_worker(design: Design, broker: str, port: int, data: Path, log: Path,
                 app_id: str = "bench", **env: str) -> subprocess.Popen[bytes]:
    """`python -m monitor worker` from the design's checkout."""
    variables = {**os.environ, "PYTHONPATH": str(design.root), "MONITOR_BROKER": broker,
                 "MONITOR_WEB_PORT": str(port), "MONITOR_DATA_DIR": str(data),
                 "MONITOR_APP_ID": app_id, "MONITOR_BROKER_FLAVOR": "tansu",
                 "MONITOR_REBALANCE_TIMEOUT": "4", "MONITOR_SESSION_TIMEOUT": "4",
                 "MONITOR_HEARTBEAT_INTERVAL": "0.5", "MONITOR_PARTITIONS": str(PARTITIONS),
                 **env}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor", "--log-level", "WARNING",
                                 "worker"], cwd=design.root, env=variables, stdout=out,
                                stderr=subprocess.STDOUT)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """(status, JSON body) of a GET; (0, None) when nothing answers, (status, None) when the
    body is not JSON (a worker still starting)."""
    try:
        async with session.get(url) as response:
            return response.status, orjson.loads(await response.read())
    except (aiohttp.ClientError, OSError):
        return 0, None
    except orjson.JSONDecodeError:
        return response.status, None


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max, rounded to 0.1."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    middle = ordered[len(ordered) // 2] if len(ordered) % 2 else \
        (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    return {"p50": round(middle, 1), "p99": round(p99, 1), "max": round(ordered[-1], 1)}


def snapshot(i: int, version: int = 1) -> bytes:
    """A two-leg lending snapshot."""
    return orjson.dumps({
        "position_id": f"bench:{i}", "protocol": "aave-v3", "account": f"0x{i:040x}",
        "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 1.0 + i % 97, "liquidation_threshold": 0.825,
                        "liquidation_bonus": 0.05}],
        "debt": [{"asset": "USDC", "amount": 1500.0 + i % 89 * 10}],
        "version": [version, 0], "timestamp": 1.7e9})


async def preload(bootstrap: str, events: int) -> None:
    """The input topics as the worker would create them, prices, then the snapshots."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in ("positions", "prices")])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await producer.start()
    try:
        for asset, price in (("WETH", 3000.0), ("USDC", 1.0)):
            await producer.send("prices", key=asset.encode(), value=orjson.dumps(
                {"asset": asset, "price": price, "version": [1, 0], "timestamp": time.time()}))
        for i in range(events):
            await producer.send("positions", key=f"bench:{i}".encode(), value=snapshot(i))
        await producer.flush()
    finally:
        await producer.stop()
