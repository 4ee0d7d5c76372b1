"""Benchmark: alert latency, from a price event produced to the broker until a webhook receiver
on 127.0.0.1 has the notification: cascade-proximity firing as the price comes within 5 % of a
significant trigger and resolving as it moves away, each move one notification.

python benchmarks/alert_latency.py [--alerts 60] [--load 1000] [--positions 5000]
                                   [--prometheus-samples 3]

Phases, one worker on one Tansu broker, in one run: at idle; under a background load of --load
position events/s; at idle with a second receiver that hangs (its requests wait out a 30 s
timeout), to show it delays no other; then the same alert through the Prometheus path with
the shipped configuration (deploy/prometheus: scrapes every 5 s, rules every 15 s,
PriceNearCascadeTrigger `for: 1m`; deploy/alertmanager: group_wait 30 s), a fresh asset per
sample. Prints one JSON object: p50/p99/max in ms per phase and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka import AIOKafkaProducer
from designs import percentiles
from freshness import snapshot

from monitor.localhost import free_port, wait_for_port
from monitor.run.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.alertmanager import running_alertmanager  # noqa: E402
from tests.integration.receivers import Receiver, receiving  # noqa: E402
from tests.integration.stream_harness import serving, worker_settings  # noqa: E402

NEAR, FAR = 94.0, 100.0  # 4 % and 10 % above the cluster liquidating at 90
TIMEOUT_S = 20.0


def config(assets: list[str]) -> str:
    """The model: deep-enough assets, the bench receivers, proximity only."""
    lines = ["[alerts.receivers.console]", 'kind = "console"', "enabled = false"]
    for name in ("bench", "stuck"):
        lines += [f"[alerts.receivers.{name}]", 'kind = "webhook"',
                  f'url_env = "{name.upper()}_URL"', 'secret_env = "BENCH_SECRET"',
                  'match = {alertname = "cascade-proximity"}',
                  "timeout = 30.0" if name == "stuck" else ""]
    for asset in assets:
        lines += [f"[assets.{asset}]", "depth_usd_2pct = 10_000_000.0"]
    return "\n".join(lines) + "\n"


def perp(asset: str, i: int) -> dict[str, Any]:
    """A long perp of `asset` entered at 100, liquidating at 90 (the cluster to approach)."""
    return {"position_id": f"hl:{asset}:{i}", "protocol": "hyperliquid", "account": f"0x{i:x}",
            "kind": "perp", "asset": asset, "size": 10_000.0, "entry_price": 100.0,
            "margin": 100_000.0, "maintenance_margin_ratio": 0.0, "version": [1, 0],
            "timestamp": 1.7e9}


class Bench:
    """The broker, the worker's inputs and the receivers' notifications."""

    def __init__(self, producer: AIOKafkaProducer, bench: Receiver, positions: int = 5000
                 ) -> None:
        self.producer, self.bench, self.positions, self.version = producer, bench, positions, 1

    async def price(self, asset: str, value: float) -> float:
        """Produce a price update (versioned by the clock, so newer than any earlier run's);
        the time it was handed to the producer."""
        self.version = max(self.version + 1, time.time_ns() // 1000)
        sent = time.time()
        await self.producer.send_and_wait("prices", key=asset.encode(), value=orjson.dumps(
            {"asset": asset, "price": value, "version": [self.version, 0],
             "timestamp": time.time()}))
        return sent

    async def notified(self, count: int) -> float:
        """When the receiver got its count-th notification."""
        deadline = time.monotonic() + TIMEOUT_S
        while len(self.bench.answered(200)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"notification {count} did not arrive in {TIMEOUT_S}s")
            await asyncio.sleep(0.002)
        return self.bench.answered(200)[count - 1].at

    async def moves(self, n: int, asset: str = "BENCH", near: float = NEAR, far: float = FAR
                    ) -> list[float]:
        """n moves of `asset` between `near` and `far`; ms from each to its notification."""
        samples = []
        for i in range(n):
            before = len(self.bench.answered(200))
            sent = await self.price(asset, near if i % 2 == 0 else far)
            samples.append((await self.notified(before + 1) - sent) * 1e3)
            await asyncio.sleep(0.2)  # the projections the move causes settle
        return samples

    async def load(self, rate: float, stop: asyncio.Event) -> None:
        """Position events (newer versions of the lending positions) at `rate` per second."""
        sent, started, version = 0, time.perf_counter(), 1
        while not stop.is_set():
            i = sent % self.positions
            version += i == 0
            await self.producer.send("positions", key=f"bench:{i}".encode(),
                                     value=orjson.dumps(snapshot(i, version)))
            sent += 1
            ahead = sent / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def product_path(bootstrap: str, bench: Receiver, stuck: Receiver, n: int,
                       rate: float, positions: int, assets: list[str]) -> dict[str, Any]:
    """The product's own path in three phases."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        run = Bench(producer, bench, positions)
        for asset in ("WETH", "WBTC", "USDC", *assets):
            await run.price(asset, {"WETH": 3000.0, "WBTC": 60_000.0, "USDC": 1.0}.get(asset,
                                                                                     FAR))
        for asset in assets:
            for i in range(100):
                await producer.send("positions", key=f"hl:{asset}:{i}".encode(),
                                    value=orjson.dumps(perp(asset, i)))
        for i in range(positions):
            await producer.send("positions", key=f"bench:{i}".encode(),
                                value=orjson.dumps(snapshot(i, 1)))
        await producer.flush()
        await asyncio.sleep(5.0)  # loaded and projected
        idle = await run.moves(n)
        stop = asyncio.Event()
        loader = asyncio.create_task(run.load(rate, stop))
        await asyncio.sleep(3.0)
        loaded = await run.moves(n)
        stop.set()
        await loader
        await asyncio.sleep(2.0)
        stuck.hang.set()
        hanging = await run.moves(n)
        return {"idle": percentiles(idle), "load": percentiles(loaded),
                "idle_with_a_hanging_receiver": percentiles(hanging),
                "hanging_receiver_requests_unanswered": sum(
                    r.status is None for r in stuck.requests)}
    finally:
        await producer.stop()


def prometheus_config(worker_port: int, alertmanager: str, rules: Path) -> dict[str, Any]:
    """The shipped prometheus.yml pointed at this worker and Alertmanager."""
    shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = shipped["scrape_configs"][0]
    return {"global": shipped["global"], "rule_files": [str(p) for p in sorted(rules.glob("*"))],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [alertmanager.removeprefix("http://")]}]}]},
            "scrape_configs": [{"job_name": job["job_name"], "metrics_path": job["metrics_path"],
                                "scrape_interval": job["scrape_interval"],
                                "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}]}


def near_trigger(hook: Receiver, asset: str) -> float | None:
    """When Alertmanager first notified PriceNearCascadeTrigger firing for `asset`."""
    return next((r.at for r in hook.answered(200) for a in r.json()["alerts"]
                 if a["labels"].get("asset") == asset and a["status"] == "firing"
                 and a["labels"].get("alertname") == "PriceNearCascadeTrigger"), None)


async def prometheus_path(bootstrap: str, hook: Receiver, assets: list[str]) -> list[float]:
    """Per fresh asset: ms from its move near the trigger to Alertmanager's notification."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    samples = []
    try:
        run = Bench(producer, hook)
        for asset in assets:
            sent = await run.price(asset, NEAR)
            deadline = time.monotonic() + 300
            while (got := near_trigger(hook, asset)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Alertmanager never notified {asset}")
                await asyncio.sleep(0.05)
            samples.append((got - sent) * 1e3)
    finally:
        await producer.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=60, help="notifications per phase")
    parser.add_argument("--load", type=float, default=1000.0, help="position events/s")
    parser.add_argument("--positions", type=int, default=5000, help="lending positions")
    parser.add_argument("--prometheus-samples", type=int, default=3)
    args = parser.parse_args()
    slow = [f"BENCH{k}" for k in range(1, args.prometheus_samples + 1)]
    with tempfile.TemporaryDirectory(prefix="alert-latency-") as tmp_, \
            EmbeddedBroker(log_path=Path(tmp_) / "tansu.log") as broker, \
            receiving() as bench, receiving() as stuck, receiving() as am_hook, \
            running_alertmanager(Path(tmp_) / "am", am_hook.url) as alertmanager:
        tmp = Path(tmp_)
        os.environ.update({"BENCH_URL": bench.url, "STUCK_URL": stuck.url,
                           "BENCH_SECRET": "whsec_YmVuY2ggc2VjcmV0IG9mIDI0IGJ5dGVz"})
        model = tmp / "model.toml"
        model.write_text(config(["BENCH", *slow]))
        settings = worker_settings(broker.url, tmp / "data", config_path=model)
        with serving(settings, tmp / "worker.log"):
            prometheus = prometheus_config(settings.web_port, alertmanager,
                                           ROOT / "deploy" / "prometheus" / "rules")
            (tmp / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
            port = free_port()
            with (tmp / "prometheus.log").open("wb") as log:
                process = subprocess.Popen(
                    [shutil.which("prometheus") or "/usr/bin/prometheus",
                     f"--config.file={tmp / 'prometheus.yml'}",
                     f"--storage.tsdb.path={tmp / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                    stderr=subprocess.STDOUT)
            try:
                wait_for_port("127.0.0.1", port, 30)
                product = asyncio.run(product_path(broker.bootstrap, bench, stuck, args.alerts,
                                                   args.load, args.positions,
                                                   ["BENCH", *slow]))
                stuck.hang.clear()
                slow_samples = asyncio.run(prometheus_path(broker.bootstrap, am_hook, slow))
            finally:
                process.terminate()
                process.wait(timeout=20)
    shipped = percentiles(slow_samples)
    print(json.dumps({
        "alerts_per_phase": args.alerts, "load_events_per_s": args.load,
        "product_ms": product,
        "prometheus_alertmanager_ms": {**shipped, "samples": len(slow_samples)},
        "ratio_prometheus_to_product_p50": round(shipped["p50"] / product["idle"]["p50"], 1),
        "targets_ms": {"idle_p99": 100, "load_p99": 250}}))


if __name__ == "__main__":
    main()
