"""`monitor run`: the embedded default — a broker, a worker and a live feed on one machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Final

from aiokafka.errors import KafkaError

from monitor.argtypes import positive_int
from monitor.config import ConfigError
from monitor.console import say
from monitor.run.feeds import FeedError
from monitor.run.stack import WHO, RunError, run_stack
from monitor.scenario.paths import PATHS
from monitor.scenario.replay import add_scenario_arguments

DEFAULT_WEB_PORT: Final = 6066
FEEDS: Final = ("devnet", "scenario")
DEVNET_MODEL: Final = "devnet_config.toml"  # market depth scaled to the devnet's seeded book


@contextlib.contextmanager
def model_file(args: argparse.Namespace) -> Iterator[Path | None]:
    """The worker's model file: --config, else MONITOR_CONFIG (None here: load_settings reads
    it), else for the devnet feed the shipped devnet model, whose depths fit its small book."""
    if args.config is not None or os.environ.get("MONITOR_CONFIG"):
        say(WHO, f"model: {args.config or os.environ['MONITOR_CONFIG']}")
        yield args.config
    elif args.feed != "devnet":
        say(WHO, "model: the default (mainnet market depth; --config to change)")
        yield None
    else:
        with resources.as_file(resources.files("monitor").joinpath(DEVNET_MODEL)) as path:
            say(WHO, f"model: {path} (market depth scaled to the devnet's seeded book; --config or "
                "MONITOR_CONFIG to change)")
            yield path


def run(args: argparse.Namespace) -> int:
    """Entry point of `monitor run`."""
    with tempfile.TemporaryDirectory(prefix="monitor-run-") as tmp, model_file(args) as model:
        log_dir = args.log_dir or Path(tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            return asyncio.run(run_stack(args, log_dir, Path(tmp) / "data", model))
        except (RunError, FeedError, ConfigError, KafkaError) as exc:
            print(f"{WHO}: {exc}", file=sys.stderr, flush=True)
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
