"""`monitor worker`: one Faust worker of the monitor, from the command line or from Python
(run_worker in this process, start_worker_process as a child process for `monitor run` and
tests). Readiness: GET /health/ answers 200 once partitions are assigned and tables recovered."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import IO, Final

import faust

from monitor.argtypes import positive_int
from monitor.config import ConfigError, Settings, load_settings
from monitor.stream.app import create_app
from monitor.stream.tansu import is_tansu
from monitor.wire import bootstrap_servers

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S: Final = 30.0


class WorkerError(RuntimeError):
    """The worker could not start; the message says why."""


def resolve_broker_flavor(settings: Settings, timeout: float = PROBE_TIMEOUT_S) -> Settings:
    """Settings whose broker_flavor is "kafka" or "tansu": "auto" asks the broker its cluster
    id (retrying while it starts), so the Tansu workaround is on exactly when needed."""
    if settings.broker_flavor != "auto":
        return settings
    deadline = time.monotonic() + timeout
    while True:
        try:
            tansu = asyncio.run(is_tansu(bootstrap_servers(settings.broker)))
            return replace(settings, broker_flavor="tansu" if tansu else "kafka")
        except Exception as exc:  # aiokafka raises several types while a broker starts
            if time.monotonic() > deadline:
                raise WorkerError(f"cannot reach the broker at {settings.broker}: {exc}") from exc
            time.sleep(0.5)


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run a worker in this process until it is stopped (SIGINT/SIGTERM)."""
    settings = resolve_broker_flavor(settings)
    log.info("broker %s (%s), web view http://%s:%d/", settings.broker, settings.broker_flavor,
             settings.web_host, settings.web_port)
    return serve(create_app(settings), loglevel)


def serve(app: faust.App, loglevel: str = "info") -> int:
    """Run `app`'s worker in this process until it is stopped.

    Faust's terminal spinner sets the root logger to DEBUG (so that every record spins it)
    whenever the level is WARN or above: every debug call of aiokafka and Faust then builds a
    record per message sent or fetched, a fifth of a loaded worker's time. No spinner here.

    Everything built so far (modules, the app) lives as long as the worker, so it is moved out
    of the cyclic collector's sight: Faust's RocksDB store runs a full collection per table at
    each rebalance, and each would scan all of it again (a second of a warm restart)."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    gc.freeze()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def start_worker_process(settings: Settings, log_file: IO[bytes] | None = None,
                         loglevel: str = "INFO") -> subprocess.Popen[bytes]:
    """Start `python -m monitor worker` configured by `settings` (passed as MONITOR_* env)."""
    env = {**os.environ, **settings.to_env()}
    cmd = [sys.executable, "-m", "monitor", "--log-level", loglevel, "worker"]
    return subprocess.Popen(cmd, env=env, stdout=log_file or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL)


def wait_until_ready(settings: Settings, process: subprocess.Popen[bytes] | None = None,
                     timeout: float = 60.0) -> float:
    """Poll GET /health/ until it answers 200; returns the seconds waited."""
    url = f"http://{settings.web_host}:{settings.web_port}/health/"
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise WorkerError(f"worker exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise WorkerError(f"worker at {url} not ready after {timeout:.0f}s")


def _settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, the TOML file and the command-line overrides."""
    settings = load_settings(args.config)
    overrides = {"broker": args.broker, "web_port": args.web_port, "web_host": args.web_host,
                 "data_dir": args.data_dir, "store": args.store, "partitions": args.partitions}
    return settings.with_overrides(**{k: v for k, v in overrides.items() if v is not None})


def main(args: argparse.Namespace) -> int:
    """Entry point of `monitor worker`."""
    try:
        settings = _settings_from(args)
        return run_worker(settings, loglevel=str(args.log_level).lower())
    except (ConfigError, WorkerError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor worker`."""
    parser = subparsers.add_parser(
        "worker", help="run one stream-processing worker with its web view",
        description="Run a Faust worker: positions, prices, clusters and cascades agents, and "
                    "the web view (/clusters/, /cascades/{asset}/, /positions/{id}/, /health/, "
                    "/metrics). Options override MONITOR_* environment variables.")
    parser.add_argument("--broker", help="Kafka URL, e.g. kafka://127.0.0.1:9092 "
                                         "(env MONITOR_BROKER)")
    parser.add_argument("--web-port", type=positive_int,
                        help="web view port (env MONITOR_WEB_PORT, 6066)")
    parser.add_argument("--web-host", help="web view bind address (env MONITOR_WEB_HOST, "
                                           "127.0.0.1)")
    parser.add_argument("--config", type=Path, help="TOML model file (env MONITOR_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="table data directory "
                                                      "(env MONITOR_DATA_DIR)")
    parser.add_argument("--store", choices=("memory://", "rocksdb://"),
                        help="table store (env MONITOR_STORE, memory://)")
    parser.add_argument("--partitions", type=positive_int, help="partitions per topic "
                                                       "(env MONITOR_PARTITIONS, 4)")
    parser.set_defaults(func=main)
