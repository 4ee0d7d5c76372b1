"""`monitor run --feed devnet`: chain → follower → broker, with the oracle walking a crash path.

Anvil runs the real Aave V3 and Morpho Blue contracts with seeded accounts and Uniswap v2 pools;
one follower tracks the pool, Morpho, their oracles and the pools' reserves (to `depth`) like it
would on mainnet; the price driver moves the aggregators (and Morpho's oracles with them) step
by step, trading the pools to the same prices, and the liquidators clear what falls liquidatable
and sell what they seize into the pools, so every number the worker serves (the LiquidationCalls
and Liquidates, the observed depth) came through the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from pathlib import Path

from monitor.console import say
from monitor.devnet.anvil import AnvilError
from monitor.devnet.artifacts import ArtifactError
from monitor.devnet.devnet import Devnet, DevnetError, start_devnet
from monitor.devnet.liquidator import Liquidator
from monitor.devnet.morpho_liquidator import MorphoLiquidator
from monitor.devnet.price_driver import DriveStep, drive, planned_path
from monitor.run.feeds import FEED, FeedError
from monitor.sources.evm.follower import FollowConfig
from monitor.sources.ingest import ingest, manifest_sources
from monitor.wire import bootstrap_servers

INGEST_POLL_S = 0.25


async def open_devnet(accounts: int, seed: int, log_dir: Path) -> Devnet:
    """Anvil with Aave V3 deployed and seeded, or FeedError naming what to install."""
    say(FEED, f"devnet: starting anvil, deploying Aave V3 and Morpho Blue, seeding {accounts} "
        "accounts ...")
    try:
        devnet = await asyncio.to_thread(start_devnet, accounts, seed, None,
                                         log_dir / "anvil.log")
    except (AnvilError, ArtifactError, DevnetError, OSError) as exc:
        raise FeedError(
            f"the devnet feed could not start: {exc}\n"
            "  It needs anvil, @aave/core-v3 and solc from npm: run `npm install` in the "
            "repository root (or `make setup`), or pick `--feed scenario`.") from exc
    say(FEED, f"devnet: {devnet.rpc_url}, pool {devnet.manifest['pool']}, Morpho Blue "
        f"{devnet.morpho.deployment.address}, assets {', '.join(devnet.assets)}")
    return devnet


async def devnet_feed(devnet: Devnet, args: argparse.Namespace, url: str,
                      stop: asyncio.Event) -> None:
    """Ingest the devnet into the broker and drive its prices until `stop`; then stop it."""
    halt = threading.Event()
    try:
        manifest = devnet.manifest
        config = FollowConfig(from_block=int(manifest["deploy_block"]), confirmations=0,
                              poll_interval=INGEST_POLL_S)
        ingesting = asyncio.create_task(ingest(devnet.rpc_url, bootstrap_servers(url),
                                               manifest_sources(manifest),
                                               config, stop=stop))
        path = await asyncio.to_thread(planned_path, devnet, args.scenario, args.steps,
                                       args.seed)
        pools = devnet.pools if devnet.has_pools else None
        liquidator = Liquidator(devnet, halt, pools) if args.liquidator else None
        morpho_liquidator = MorphoLiquidator(devnet, halt, pools) if args.liquidator else None
        say(FEED, f"devnet: driving the oracle along {args.scenario}, {len(path)} steps "
            f"every {args.interval}s; liquidator "
            f"{'on (--no-liquidator to turn it off)' if liquidator else 'off'}")

        def report(step: DriveStep) -> None:
            """A progress line per applied step."""
            say(FEED, f"devnet: {step.line()}")

        driving = asyncio.create_task(
            asyncio.to_thread(drive, devnet, path, args.interval, report, halt, liquidator,
                              morpho_liquidator))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, ingesting}, return_when=asyncio.FIRST_COMPLETED)
        halt.set()
        stop.set()
        await driving
        await ingesting
    finally:
        halt.set()
        await asyncio.to_thread(devnet.stop)
        say(FEED, "devnet stopped")
