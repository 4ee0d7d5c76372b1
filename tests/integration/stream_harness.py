"""Helpers for pipeline integration tests: workers as subprocesses, a plain aiokafka producer
and consumer, HTTP queries, and polling until the pipeline has caught up."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any, Final, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Settings, load_settings
from monitor.localhost import free_port
from monitor.stream.worker import start_worker_process, wait_until_ready

T = TypeVar("T")

# the crash scenario's book at which WETH's cascade trigger is significant under the default
# [cascade] condition (it liquidates $50M, or moves the price 1 % beyond the shock)
SIGNIFICANT_BOOK: Final = 10_000
PRODUCE_ATTEMPTS: Final = 20  # deliveries of a record refused with a retriable error


@dataclass
class Worker:
    """A worker subprocess and the settings it runs with."""

    settings: Settings
    process: Popen[bytes]
    log: Path

    def get(self, path: str) -> tuple[int, Any]:
        """(status, decoded JSON) of GET path on this worker."""
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def get_text(self, path: str) -> tuple[int, str]:
        """(status, body text) of GET path on this worker (e.g. /metrics)."""
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_settings(broker_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings for a test worker: loopback web port, short group timeouts."""
    return load_settings(environ={}).with_overrides(
        broker=broker_url, web_port=free_port(), data_dir=data_dir, rebalance_timeout=4.0,
        session_timeout=4.0, heartbeat_interval=0.5, **changes)


def start_worker(settings: Settings, log: Path) -> Worker:
    """Start a worker subprocess (not waiting for readiness)."""
    return Worker(settings, start_worker_process(settings, log.open("ab")), log)


@contextmanager
def running(workers: Iterable[Worker]) -> Iterator[list[Worker]]:
    """Stop the workers when the block ends."""
    started = list(workers)
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[Worker]:
    """One worker started, ready within the block, and stopped when it ends."""
    with running([start_worker(settings, log)]) as (worker,):
        ready(worker)
        yield worker


def ready(worker: Worker, timeout: float = 90.0) -> float:
    """Wait for the worker's readiness; returns seconds waited."""
    return wait_until_ready(worker.settings, worker.process, timeout)


def eventually(check: Callable[[], T], timeout: float = 60.0) -> T:
    """Retry `check` until it stops raising AssertionError (the pipeline is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def produce(bootstrap: str, records: Iterable[tuple[str, str | bytes | None, Any]]) -> None:
    """Send (topic, key, value) with a plain aiokafka producer and wait until every record is
    delivered, each one refused with a retriable error (Tansu answers NotLeaderForPartition
    while a topic a worker just created settles) sent again in order; dict values become JSON,
    str keys UTF-8 (bytes and None values go as they are, up to 4 MiB)."""
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                    max_request_size=4 * 2**20)
        await producer.start()
        try:
            pending = [(topic, key.encode() if isinstance(key, str) else key,
                        value if value is None or isinstance(value, bytes)
                        else orjson.dumps(value)) for topic, key, value in records]
            for _ in range(PRODUCE_ATTEMPTS):
                sent = [await producer.send(topic, key=key, value=raw)
                        for topic, key, raw in pending]
                outcomes = await asyncio.gather(*sent, return_exceptions=True)
                failed = [(record, outcome) for record, outcome in zip(pending, outcomes,
                                                                       strict=True)
                          if isinstance(outcome, BaseException)]
                if not failed:
                    return
                for _, error in failed:
                    if not (isinstance(error, KafkaError) and error.retriable):
                        raise error
                pending = [record for record, _ in failed]
                await asyncio.sleep(0.5)
            raise RuntimeError(f"{len(pending)} records not delivered in {PRODUCE_ATTEMPTS} tries")
        finally:
            await producer.stop()
    asyncio.run(send())


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Read a topic from the beginning until `expected` records arrived (values as JSON)."""
    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found.extend(orjson.loads(r.value) for r in records)
        finally:
            await consumer.stop()
        return found
    return asyncio.run(read())


def count_records(bootstrap: str, topic: str, idle_ms: int = 1500) -> int:
    """Records on a topic, read from the beginning until nothing more arrives (Tansu's
    ListOffsets is not the log end, so the records are read, not the offsets asked)."""
    async def read() -> int:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    fetch_max_bytes=8 * 2**20,
                                    max_partition_fetch_bytes=8 * 2**20)
        await consumer.start()
        try:
            found = 0
            while batch := await consumer.getmany(timeout_ms=idle_ms):
                found += sum(len(records) for records in batch.values())
            return found
        finally:
            await consumer.stop()
    return asyncio.run(read())


def metric_values(worker: Worker, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of metric `name` on the worker's /metrics, by its labels."""
    status, text = worker.get_text("/metrics")
    assert status == 200, status
    return {frozenset(sample.labels.items()): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name}
