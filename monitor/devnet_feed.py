"""`monitor run --feed devnet`: chain → ingester → broker, with the oracle walking a crash path.

Anvil runs the real Aave V3 contracts with seeded accounts; the ingester follows the pool and
the oracle like it would on mainnet; the price driver moves the aggregators step by step and a
liquidator clears the accounts that fall below HF 1, so every number the worker serves (the
LiquidationCalls included) came through the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from pathlib import Path

from monitor.chain.anvil import AnvilError
from monitor.chain.artifacts import ArtifactError
from monitor.chain.devnet import Devnet, DevnetError, start_devnet
from monitor.chain.ingest_cli import ingest, manifest_names
from monitor.chain.ingester import IngestConfig
from monitor.chain.liquidator import Liquidator
from monitor.chain.price_driver import DriveStep, drive, planned_path
from monitor.feeds import FeedError, say
from monitor.scenario.replay import bootstrap_of

INGEST_POLL_S = 0.25


async def open_devnet(accounts: int, seed: int, log_dir: Path) -> Devnet:
    """Anvil with Aave V3 deployed and seeded, or FeedError naming what to install."""
    say(f"devnet: starting anvil, deploying Aave V3, seeding {accounts} accounts ...")
    try:
        devnet = await asyncio.to_thread(start_devnet, accounts, seed, None,
                                         log_dir / "anvil.log")
    except (AnvilError, ArtifactError, DevnetError, OSError) as exc:
        raise FeedError(
            f"the devnet feed could not start: {exc}\n"
            "  It needs anvil, @aave/core-v3 and solc from npm: run `npm install` in the "
            "repository root (or `make setup`), or pick `--feed scenario`.") from exc
    say(f"devnet: {devnet.rpc_url}, pool {devnet.manifest['pool']}, "
        f"assets {', '.join(devnet.assets)}")
    return devnet


async def devnet_feed(devnet: Devnet, args: argparse.Namespace, url: str,
                      stop: asyncio.Event) -> None:
    """Ingest the devnet into the broker and drive its prices until `stop`; then stop it."""
    halt = threading.Event()
    try:
        manifest = devnet.manifest
        config = IngestConfig(pool=manifest["pool"], from_block=int(manifest["deploy_block"]),
                              confirmations=0, checkpoint=None, once=False,
                              poll_interval=INGEST_POLL_S, names=manifest_names(manifest))
        ingesting = asyncio.create_task(ingest(devnet.rpc_url, bootstrap_of(url), config,
                                               stop=stop))
        path = await asyncio.to_thread(planned_path, devnet, args.scenario, args.steps,
                                       args.seed)
        liquidator = Liquidator(devnet, halt) if args.liquidator else None
        say(f"devnet: driving the oracle along {args.scenario}, {len(path)} steps "
            f"every {args.interval}s; liquidator "
            f"{'on (--no-liquidator to turn it off)' if liquidator else 'off'}")

        def report(step: DriveStep) -> None:
            """A progress line per applied step."""
            say(f"devnet: {step.line()}")

        driving = asyncio.create_task(
            asyncio.to_thread(drive, devnet, path, args.interval, report, halt, liquidator))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, ingesting}, return_when=asyncio.FIRST_COMPLETED)
        halt.set()
        stop.set()
        await driving
        await ingesting
    finally:
        halt.set()
        await asyncio.to_thread(devnet.stop)
        say("devnet stopped")
