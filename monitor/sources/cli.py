"""`monitor ingest`: follow a lending pool over JSON-RPC and publish positions and prices."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from monitor.argtypes import non_negative_int, positive_float, positive_int
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.checkpoint import CheckpointError
from monitor.sources.evm.follower import MAINNET_CONFIRMATIONS, FollowConfig, Stats
from monitor.sources.evm.jsonrpc import RpcError
from monitor.sources.ingest import (
    DEFAULT_PROTOCOL,
    ManifestError,
    ingest,
    manifest_source,
    read_manifest,
)
from monitor.sources.registry import ADAPTERS
from monitor.wire import bootstrap_servers


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor ingest`."""
    parser = subparsers.add_parser(
        "ingest", help="follow a lending pool over JSON-RPC and publish positions and prices",
        description="Backfill a lending pool's events from --from-block, then follow the head "
                    "--confirmations blocks behind. Every account an event touches is re-read "
                    "whole at that block and published to 'positions' (key position_id); oracle "
                    "answers go to 'prices' (key asset). A changed block hash among recent "
                    "blocks rewinds to the fork point and re-emits what it touched; "
                    "--checkpoint makes a restart resume where it stopped.")
    parser.add_argument("--rpc", metavar="URL",
                        help="JSON-RPC endpoint, http(s):// or ws(s):// (default: the "
                             "manifest's rpc_url)")
    parser.add_argument("--protocol", choices=sorted(ADAPTERS), default=DEFAULT_PROTOCOL,
                        help=f"protocol of the pool (default {DEFAULT_PROTOCOL})")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pool", metavar="ADDR", help="Pool (proxy) address")
    source.add_argument("--manifest", type=Path, metavar="PATH",
                        help="devnet manifest JSON (pool, rpc_url, deploy_block, asset names)")
    parser.add_argument("--broker", required=True, metavar="URL",
                        help="Kafka broker, e.g. kafka://127.0.0.1:9092")
    parser.add_argument("--from-block", type=non_negative_int, metavar="N",
                        help="first block to backfill when there is no checkpoint (default: "
                             "the manifest's deploy_block, else 0)")
    parser.add_argument("--confirmations", type=non_negative_int, default=MAINNET_CONFIRMATIONS,
                        metavar="N", help=f"blocks to stay behind the head (default "
                        f"{MAINNET_CONFIRMATIONS}, for mainnet; 0 on a local devnet)")
    parser.add_argument("--checkpoint", type=Path, metavar="PATH",
                        help="JSON checkpoint file to resume from and update")
    parser.add_argument("--once", action="store_true",
                        help="stop when the confirmed head is reached instead of following it")
    parser.add_argument("--poll-interval", type=positive_float, default=1.0, metavar="S",
                        help="seconds between head polls when caught up (default 1.0)")
    parser.add_argument("--max-range", type=positive_int, default=2_000, metavar="N",
                        help="most blocks per eth_getLogs call; shrinks on provider limits "
                             "(default 2000)")
    parser.add_argument("--batch-size", type=positive_int, default=200, metavar="N",
                        help="requests per JSON-RPC batch (default 200)")
    parser.set_defaults(func=run_ingest)


def config_from_args(args: argparse.Namespace
                     ) -> tuple[str, list[SourceConfig], FollowConfig]:
    """The RPC URL, the source and the follower's config from parsed arguments (ManifestError
    on bad input)."""
    manifest = read_manifest(args.manifest) if args.manifest else {}
    rpc = args.rpc or manifest.get("rpc_url")
    if not rpc:
        raise ManifestError("--rpc is required unless the manifest has an rpc_url")
    from_block = args.from_block if args.from_block is not None else \
        int(manifest.get("deploy_block", 0))
    source = manifest_source(manifest, args.protocol) if args.manifest else \
        SourceConfig(args.protocol, str(args.pool).lower())
    config = FollowConfig(
        from_block=from_block, confirmations=args.confirmations, checkpoint=args.checkpoint,
        once=args.once, poll_interval=args.poll_interval, max_range=max(args.max_range, 1))
    return str(rpc), [source], config


def run_ingest(args: argparse.Namespace) -> int:
    """Entry point of `monitor ingest`."""
    try:
        rpc_url, sources, config = config_from_args(args)
    except ManifestError as exc:
        print(f"monitor ingest: {exc}", file=sys.stderr)
        return 2

    async def main() -> Stats:
        """Ingest until done or SIGINT/SIGTERM."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await ingest(rpc_url, bootstrap_servers(args.broker), sources, config,
                            args.batch_size, stop)

    try:
        stats = asyncio.run(main())
    except (CheckpointError, RpcError, ValueError, OSError) as exc:
        print(f"monitor ingest: {exc}", file=sys.stderr)
        return 1
    print(f"ingest: done at block {stats.block}: {stats.snapshots} snapshots, {stats.prices} "
          f"prices, {stats.logs} logs, {stats.reorgs} reorgs")
    return 0
