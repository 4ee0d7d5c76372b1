"""`monitor ingest`: follow lending protocols (Aave V3, Morpho Blue) over JSON-RPC, several in one
follower, and publish positions and prices."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from monitor.argtypes import non_negative_int, positive_float, positive_int
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.checkpoint import CheckpointError
from monitor.sources.evm.follower import MAINNET_CONFIRMATIONS, FollowConfig, Stats
from monitor.sources.evm.jsonrpc import RpcError
from monitor.sources.evm.rpc import TRANSIENT, scrub, scrub_logs
from monitor.sources.ingest import (
    DEFAULT_PROTOCOL,
    ManifestError,
    ingest,
    manifest_source,
    read_manifest,
)
from monitor.sources.registry import ADAPTERS
from monitor.wire import bootstrap_servers

# protocol -> the option naming its entry contract
ADDRESS_OPTIONS: Final = {"aave-v3": "pool", "morpho-blue": "morpho", "uniswap-v2": "factory"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor ingest`."""
    parser = subparsers.add_parser(
        "ingest", help="follow lending protocols over JSON-RPC and publish positions and prices",
        description="Backfill the events of one or more lending protocols on one chain (an Aave "
                    "V3 pool, a Morpho Blue contract) from --from-block, then follow the head "
                    "--confirmations blocks behind, one follower for all of them. Every "
                    "position an event touches is re-read whole at that block and published to "
                    "'positions' (key position_id); oracle prices go to 'prices' (key asset, or "
                    "a Morpho market's price key). A changed block hash among recent blocks "
                    "rewinds to the fork point and re-emits what it touched; --checkpoint makes "
                    "a restart resume where it stopped. Uniswap v2 pairs (--factory) are a "
                    "source of market depth: each pair's reserves go to 'depth' (key pair "
                    "address) at every Sync.")
    parser.add_argument("--rpc", metavar="URL",
                        help="JSON-RPC endpoint, http(s):// or ws(s):// (default: the "
                             "manifest's rpc_url)")
    parser.add_argument("--protocol", choices=sorted(ADAPTERS), action="append",
                        help="a protocol to follow; repeat for several (default: those whose "
                             f"address is given, else {DEFAULT_PROTOCOL})")
    parser.add_argument("--pool", metavar="ADDR", help="Aave V3 Pool (proxy) address")
    parser.add_argument("--morpho", metavar="ADDR", help="Morpho Blue contract address")
    parser.add_argument("--markets", metavar="ID,...",
                        help="Morpho Blue market ids to follow (default: every market)")
    parser.add_argument("--factory", metavar="ADDR",
                        help="Uniswap v2 factory whose pairs to follow for market depth")
    parser.add_argument("--pairs", metavar="ADDR,...",
                        help="Uniswap v2 pairs to follow (default: every pair the factory has "
                             "created when ingestion starts)")
    parser.add_argument("--manifest", type=Path, metavar="PATH",
                        help="devnet manifest JSON (pool, Morpho Blue, rpc_url, deploy_block, "
                             "asset names) instead of --pool / --morpho")
    parser.add_argument("--broker", required=True, metavar="URL",
                        help="Kafka broker, e.g. kafka://127.0.0.1:9092")
    parser.add_argument("--from-block", type=non_negative_int, metavar="N",
                        help="first block to backfill when there is no checkpoint (default: "
                             "the manifest's deploy_block, else 0)")
    parser.add_argument("--confirmations", type=non_negative_int, default=MAINNET_CONFIRMATIONS,
                        metavar="N", help=f"blocks to stay behind the head (default "
                        f"{MAINNET_CONFIRMATIONS}, for mainnet; 0 on a local devnet)")
    parser.add_argument("--checkpoint", type=Path, metavar="PATH",
                        help="JSON checkpoint file to resume from and update (it names the "
                             "sources it was written for)")
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


def sources_from_args(args: argparse.Namespace, manifest: dict[str, Any]) -> list[SourceConfig]:
    """The sources the arguments name: each followed protocol's address from its option or
    the manifest (ManifestError when one is missing, or given for a protocol not followed)."""
    given = {p: getattr(args, option) for p, option in ADDRESS_OPTIONS.items()
             if getattr(args, option)}
    if args.manifest and given:
        raise ManifestError("--manifest replaces --pool, --morpho and --factory: give one or "
                            "the other")
    if not args.manifest and not given:
        raise ManifestError("one of --pool, --morpho, --factory or --manifest is required")
    protocols = list(dict.fromkeys(args.protocol or given or [DEFAULT_PROTOCOL]))
    unused = sorted(set(given) - set(protocols))
    if unused:
        raise ManifestError(f"--{ADDRESS_OPTIONS[unused[0]]} is given but --protocol "
                            f"{unused[0]} is not")
    markets = tuple(m.strip().lower() for m in (args.markets or "").split(",") if m.strip())
    if markets and "morpho-blue" not in protocols:
        raise ManifestError("--markets needs --protocol morpho-blue")
    pairs = tuple(p.strip().lower() for p in (args.pairs or "").split(",") if p.strip())
    if pairs and "uniswap-v2" not in protocols:
        raise ManifestError("--pairs needs --protocol uniswap-v2")
    listed = {"morpho-blue": markets, "uniswap-v2": pairs}
    sources = []
    for protocol in protocols:
        if args.manifest:
            source = manifest_source(manifest, protocol)
        elif protocol in given:
            source = SourceConfig(protocol, str(given[protocol]).lower())
        else:
            raise ManifestError(f"--protocol {protocol} needs --{ADDRESS_OPTIONS[protocol]} "
                                "or a --manifest")
        sources.append(replace(source, markets=listed[protocol]) if protocol in listed
                       else source)
    return sources


def config_from_args(args: argparse.Namespace
                     ) -> tuple[str, list[SourceConfig], FollowConfig]:
    """The RPC URL, the sources and the follower's config from parsed arguments (ManifestError
    on bad input)."""
    manifest = read_manifest(args.manifest) if args.manifest else {}
    rpc = args.rpc or manifest.get("rpc_url")
    if not rpc:
        raise ManifestError("--rpc is required unless the manifest has an rpc_url")
    from_block = args.from_block if args.from_block is not None else \
        int(manifest.get("deploy_block", 0))
    config = FollowConfig(
        from_block=from_block, confirmations=args.confirmations, checkpoint=args.checkpoint,
        once=args.once, poll_interval=args.poll_interval, max_range=max(args.max_range, 1))
    return str(rpc), sources_from_args(args, manifest), config


def run_ingest(args: argparse.Namespace) -> int:
    """Entry point of `monitor ingest`."""
    try:
        rpc_url, sources, config = config_from_args(args)
    except ManifestError as exc:
        print(f"monitor ingest: {exc}", file=sys.stderr)
        return 2
    scrub_logs(rpc_url)

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
    except (CheckpointError, RpcError, ValueError, *TRANSIENT) as exc:
        print(f"monitor ingest: {type(exc).__name__}: {scrub(str(exc), rpc_url)}",
              file=sys.stderr)
        return 1
    print(f"ingest: done at block {stats.block}: {stats.snapshots} snapshots, {stats.prices} "
          f"prices, {stats.logs} logs, {stats.reorgs} reorgs")
    return 0
