"""Restart recovery on Tansu: a worker stopped mid-stream and started again recovers its tables
exactly (Tansu's ListOffsets answers short of the log end; monitor.stream.tansu takes end
offsets from Fetch high-water marks instead), with the memory and the RocksDB store; a worker
SIGKILLed during a replay loses, duplicates and gets wrong nothing (at-least-once, idempotent
snapshots): every position and cluster level equals a recomputation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.risk import ClusterGrid, build_clusters, from_snapshot
from monitor.run.broker import EmbeddedBroker
from tests.integration.market import close
from tests.integration.stream_harness import (
    Worker,
    eventually,
    produce,
    ready,
    running,
    serving,
    start_worker,
    worker_settings,
)

pytestmark = pytest.mark.integration

N_POSITIONS = 60
COMMIT_WAIT_S = 4.0  # longer than Faust's 2.8 s commit interval: the stream offsets are committed


def snapshot(i: int, version: int) -> dict[str, Any]:
    """Position i at `version`; its debt grows with the version so every version differs."""
    return {"position_id": f"aave-v3:1:0x{i:040x}", "protocol": "aave-v3",
            "account": f"0x{i:040x}", "kind": "lending",
            "collateral": [{"asset": "WETH", "amount": 10.0, "liquidation_threshold": 0.8,
                            "liquidation_bonus": 0.05}],
            "debt": [{"asset": "USDC", "amount": 1000.0 * version + i}],
            "version": [version, 0], "timestamp": 1.7e9}


def publish_versions(broker: EmbeddedBroker, versions: range, step: int = 1) -> None:
    """Every `step`-th position at each version, one producer batch per version."""
    for version in versions:
        produce(broker.bootstrap, [("positions", f"aave-v3:1:0x{i:040x}", snapshot(i, version))
                                   for i in range(0, N_POSITIONS, step)])


def assert_versions(worker: Worker, latest: Callable[[int], int]) -> None:
    """Position i is served at version latest(i); the worker tracks exactly N_POSITIONS."""
    for i in range(N_POSITIONS):
        status, body = worker.get(f"/positions/aave-v3:1:0x{i:040x}/")
        version = latest(i)
        assert status == 200 and body["version"] == [version, 0], (i, status, body)
        assert body["debt_usd"] == 1000.0 * version + i
    assert worker.get("/health/")[1]["positions"] == N_POSITIONS


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_restarted_worker_recovers_its_tables_exactly(broker: EmbeddedBroker, tmp_path: Path,
                                                      store: str) -> None:
    settings = worker_settings(broker.url, tmp_path / "data", store=store,
                               app_id=f"restart-{store.removesuffix('://')}")
    with serving(settings, tmp_path / "first.log") as first:
        produce(broker.bootstrap, [("prices", a, {"asset": a, "price": p, "version": [1, 0],
                                                  "timestamp": time.time()})
                                   for a, p in (("WETH", 3000.0), ("USDC", 1.0))])
        publish_versions(broker, range(1, 4))
        eventually(lambda: assert_versions(first, lambda i: 3))
        time.sleep(COMMIT_WAIT_S)
    # While no worker runs, half the positions move on: the restarted worker resumes the stream
    # mid-way, so the other half is served only from what table recovery restored.
    publish_versions(broker, range(4, 5), step=2)
    with serving(settings, tmp_path / "second.log") as second:
        eventually(lambda: assert_versions(second, lambda i: 4 if i % 2 == 0 else 3))


def replay(broker: EmbeddedBroker, versions: range, done: threading.Event) -> None:
    """Every position at each version in turn, a little apart; at the last one every tenth
    position closes."""
    for version in versions:
        produce(broker.bootstrap, [
            ("positions", f"aave-v3:1:0x{i:040x}",
             {**snapshot(i, version), "closed": version == versions[-1] and i % 10 == 0})
            for i in range(N_POSITIONS)])
        time.sleep(0.2)
    done.set()


def assert_recomputed(worker: Worker, last: int) -> None:
    """Every position and every WETH cluster level equals a recomputation from the input."""
    open_ = [i for i in range(N_POSITIONS) if i % 10]
    for i in range(N_POSITIONS):
        status, body = worker.get(f"/positions/aave-v3:1:0x{i:040x}/")
        if i % 10:
            assert status == 200 and body["version"] == [last, 0], (i, status, body)
            assert body["debt_usd"] == 1000.0 * last + i
        else:
            assert status == 404, (i, status, body)  # closed: its tombstone holds
    assert worker.get("/health/")[1]["positions"] == len(open_)
    positions = [from_snapshot(snapshot(i, last)) for i in open_]
    expected = build_clusters(positions, "WETH", {"WETH": 3000.0, "USDC": 1.0}, ClusterGrid())
    status, body = worker.get("/clusters/WETH/")
    assert status == 200 and close(body["levels"], [lvl.to_dict() for lvl in expected.levels])


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_worker_killed_during_a_replay_loses_nothing(broker: EmbeddedBroker, tmp_path: Path,
                                                       store: str) -> None:
    settings = worker_settings(broker.url, tmp_path / "data", store=store,
                               app_id=f"kill-{store.removesuffix('://')}")
    last, done = 30, threading.Event()
    first = start_worker(settings, tmp_path / "first.log")
    with running([first]):
        ready(first)
        produce(broker.bootstrap, [("prices", a, {"asset": a, "price": p, "version": [1, 0],
                                                  "timestamp": time.time()})
                                   for a, p in (("WETH", 3000.0), ("USDC", 1.0))])
        replaying = threading.Thread(target=replay, args=(broker, range(1, last + 1), done),
                                     daemon=True)
        replaying.start()

        def midway() -> None:
            status, body = first.get("/positions/aave-v3:1:0x" + "0" * 39 + "1/")
            assert status == 200 and body["version"][0] >= last // 3, (status, body)
        eventually(midway)
        first.process.kill()  # SIGKILL mid-replay: uncommitted offsets, unflushed changelog
        first.process.wait()
    with serving(settings, tmp_path / "second.log") as second:
        assert done.wait(timeout=120)
        eventually(lambda: assert_recomputed(second, last), timeout=90)
