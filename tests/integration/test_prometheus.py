"""A real Prometheus (Debian's) scrapes a running worker and evaluates deploy/'s rules."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.config import load_settings
from monitor.localhost import free_port, wait_for_port
from monitor.run.broker import EmbeddedBroker
from monitor.scenario.replay import publish_scenario
from monitor.stream.worker import start_worker_process, wait_until_ready

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
DEADLINE_S = 60.0


@pytest.fixture
def worker_port(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[int]:
    """A worker process on the test broker, its web view on a free loopback port."""
    port = free_port()
    settings = load_settings().with_overrides(
        broker=broker.url, web_port=port, data_dir=tmp_path / "worker",
        rebalance_timeout=4.0, session_timeout=6.0)
    with (tmp_path / "worker.log").open("wb") as log:
        process = start_worker_process(settings, log_file=log)
    try:
        wait_until_ready(settings, process, DEADLINE_S)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def prometheus(worker_port: int, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the worker every second with the deploy rules loaded."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
        "scrape_configs": [{"job_name": "monitor-worker", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


async def query(session: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    """Instant query; the result vector."""
    async with session.get(f"{base}/api/v1/query", params={"query": expr}) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def poll(session: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    """Query until the result is non-empty or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_S
    result = await query(session, base, expr)
    while not result and time.monotonic() < deadline:
        await asyncio.sleep(1)
        result = await query(session, base, expr)
    return result


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the Prometheus API."""
    async with aiohttp.ClientSession() as client:
        yield client


async def test_prometheus_scrapes_the_monitor_series(
        broker: EmbeddedBroker, prometheus: str, session: aiohttp.ClientSession) -> None:
    await publish_scenario(broker.bootstrap, "random-walk", positions=500, seed=2, steps=3,
                           interval=0.5)
    up = await poll(session, prometheus, 'up{job="monitor-worker"} == 1')
    assert up, "the worker target is not up"
    tracked = await poll(session, prometheus, "sum(monitor_positions_tracked) == 500")
    assert tracked, "the worker's 500 positions never showed in Prometheus"
    liquidatable = await poll(session, prometheus,
                              'asset_side:monitor_liquidatable_usd:max{asset="WETH"}')
    assert {r["metric"]["move"] for r in liquidatable} == {"0.01", "0.05", "0.1"}
    processed = await poll(session, prometheus, "sum(monitor_events_processed_total) > 0")
    assert processed
    assert await poll(session, prometheus, "asset:monitor_price_age_seconds:max")
