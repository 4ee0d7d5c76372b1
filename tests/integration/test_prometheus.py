"""A real Prometheus (Debian's) scrapes a running worker and evaluates deploy/'s rules and every
query of the Grafana dashboard."""

from __future__ import annotations

import asyncio
import json
import re
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
from monitor.stream.worker import wait_until_ready
from tests.integration.stream_harness import SIGNIFICANT_BOOK, start_worker

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "liquidations.json"
DASHBOARD_VARIABLES = {"$asset": "WETH"}
DEADLINE_S = 120.0  # generous: a loaded 2-core machine can be slow; passing runs never wait it


@pytest.fixture
def worker_port(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[int]:
    """A worker process on the test broker, its web view on a free loopback port."""
    port = free_port()
    settings = load_settings().with_overrides(
        broker=broker.url, web_port=port, data_dir=tmp_path / "worker",
        rebalance_timeout=4.0, session_timeout=6.0)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until_ready(settings, worker.process, DEADLINE_S)
        yield port
    finally:
        worker.stop()  # killed if it has not stopped in 20 s


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


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with the dashboard's variables filled in) of every panel."""
    doc = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in doc["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(name, value)
            queries.append((panel["title"], expr))
    return queries


def rule_list() -> list[dict[str, Any]]:
    """Every recording and alerting rule of deploy/prometheus/rules."""
    return [rule for path in sorted(RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def every_series(expr: str) -> str:
    """An alert expression that keeps each series it reads, as 0 or 1 (`bool` comparisons), and
    has no offset (a Prometheus started for a test has no 15-minute history): it returns data
    whenever what the rule reads has data, firing or not."""
    expr = re.sub(r"\s+offset\s+\d+[smhdwy]", "", expr)
    parts = re.split(r'(\{[^}]*\}|"(?:[^"\\]|\\.)*")', expr)  # label matchers and strings kept
    return "".join(part if i % 2 else re.sub(r"(==|!=|>=|<=|>|<)(?!\s*bool)", r"\1 bool", part)
                   for i, part in enumerate(parts))


def test_every_series_keeps_what_the_comparisons_drop() -> None:
    assert every_series('max by (a) (x{m="0.05", n!="1"}) > 1.5 * (x offset 15m) and x >= 1e6') \
        == 'max by (a) (x{m="0.05", n!="1"}) > bool 1.5 * (x) and x >= bool 1e6'


async def test_every_dashboard_query_and_rule_returns_data(
        broker: EmbeddedBroker, prometheus: str, session: aiohttp.ClientSession) -> None:
    await publish_scenario(broker.bootstrap, "crash-2020-03-12", positions=SIGNIFICANT_BOOK,
                           seed=1, steps=3, interval=0.5)
    for title, expr in dashboard_queries():
        result = await poll(session, prometheus, expr)
        assert result, f"{title}: {expr} returned no data"
        if "dead" in title.lower():
            assert {float(r["value"][1]) for r in result} == {0.0}, (title, result)
    for rule in rule_list():
        expr = rule["record"] if "record" in rule else every_series(rule["expr"])
        assert await poll(session, prometheus, expr), f"{rule.get('alert', expr)}: no data"
    async with session.get(f"{prometheus}/api/v1/rules") as resp:
        groups = (await resp.json())["data"]["groups"]
    health = {r["name"]: (r["health"], r.get("lastError")) for g in groups for r in g["rules"]}
    assert len(health) == len(rule_list())
    assert all(state == "ok" for state, _ in health.values()), health
