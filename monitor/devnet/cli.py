"""`monitor devnet`: a local chain running the real Aave V3 and Morpho Blue with seeded positions,
a manifest for `monitor ingest`, and optionally prices driven along a historical crash."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Final

from monitor.argtypes import non_negative_float, positive_int
from monitor.console import say
from monitor.devnet.anvil import AnvilError
from monitor.devnet.artifacts import ArtifactError
from monitor.devnet.cascade import cascade
from monitor.devnet.devnet import start_devnet
from monitor.devnet.liquidator import Liquidator
from monitor.devnet.morpho_liquidator import MorphoLiquidator
from monitor.devnet.node_rpc import TxFailed
from monitor.devnet.price_driver import drive, planned_path
from monitor.devnet.tx_batches import SeedError
from monitor.sources.evm.jsonrpc import RpcError

DEFAULT_PATH: Final = "crash-2020-03-12"
NO_DRIVE: Final = "none"
WHO: Final = "monitor devnet"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor devnet`."""
    parser = subparsers.add_parser(
        "devnet", help="run a local Anvil chain with the real Aave V3 and Morpho Blue and "
                       "seeded positions",
        description="Start Anvil (node_modules/.bin/anvil, $MONITOR_ANVIL or PATH) on 127.0.0.1, "
                    "deploy the real Aave V3 protocol from @aave/core-v3's artifacts (WETH, "
                    "WBTC, LINK, USDC reserves; AaveOracle over movable Chainlink-style "
                    "aggregators; an ETH-correlated eMode) and Morpho Blue compiled from "
                    "@morpho-org/morpho-blue's sources on the same tokens (markets WETH/USDC, "
                    "WBTC/USDC at LLTV 86 %, LINK/USDC at 77 %, their oracles following the "
                    "aggregators), seed --accounts Aave positions and a quarter as many Morpho "
                    "positions (a third of them by the same accounts) with health factors just "
                    "above 1, write the manifest that `monitor ingest --manifest` reads, then "
                    "move the oracle prices along --drive one step every --interval seconds, "
                    "liquidating the positions that become liquidatable after each step "
                    "(unless --no-liquidator). Uniswap v2 pools WETH/USDC, WBTC/USDC and "
                    "LINK/USDC hold 3x the seeded collateral of their asset. --cascade SHOCK "
                    "instead sells into the WETH pool until it is SHOCK lower, then lets an "
                    "oracle keeper (aggregators and Morpho oracles to the pools' spot) and the "
                    "liquidators (selling what they seize into the pools) run to quiescence, "
                    "and prints what happened. Runs until Ctrl-C.")
    parser.add_argument("--port", type=positive_int, metavar="N",
                        help="JSON-RPC port on 127.0.0.1 (HTTP and WebSocket; default: a free one)")
    parser.add_argument("--accounts", type=positive_int, default=300, metavar="N",
                        help="accounts to seed with Aave positions (default 300; a quarter as "
                             "many Morpho positions are seeded too)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed of the positions and the price path (default 0)")
    parser.add_argument("--manifest", type=Path, default=Path("devnet-manifest.json"),
                        metavar="PATH", help="where to write the manifest JSON "
                                             "(default ./devnet-manifest.json)")
    parser.add_argument("--drive", default=DEFAULT_PATH, metavar="NAME",
                        help="price path to walk: crash-2020-03-12, crash-2021-05-19, "
                             f"random-walk, or {NO_DRIVE} (default {DEFAULT_PATH})")
    parser.add_argument("--steps", type=positive_int, default=96, metavar="N",
                        help="steps of the price path (default 96)")
    parser.add_argument("--interval", type=non_negative_float, default=2.0, metavar="SECONDS",
                        help="seconds between price steps (default 2)")
    parser.add_argument("--cascade", type=_fraction, metavar="SHOCK",
                        help="drive a cascade instead of --drive: a direct sale moving the "
                             "--cascade-asset pool down SHOCK (e.g. 0.06), then rounds to "
                             "quiescence")
    parser.add_argument("--cascade-asset", default="WETH", choices=("WETH", "WBTC", "LINK"),
                        help="the pool the --cascade shock sells into (default WETH)")
    parser.add_argument("--no-liquidator", dest="liquidator", action="store_false",
                        help="leave accounts below health factor 1 alone (default: liquidate "
                             "them after each price step)")
    parser.add_argument("--anvil-log", type=Path, metavar="PATH",
                        help="append anvil's output to PATH (default: discarded)")
    parser.set_defaults(func=run_devnet)


def _fraction(text: str) -> float:
    """A shock: a fraction in (0, 1)."""
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the devnet as Ctrl-C does."""
    raise KeyboardInterrupt


def run_devnet(args: argparse.Namespace) -> int:
    """Entry point of `monitor devnet`."""
    if args.accounts < 0:
        say(WHO, f"--accounts must be >= 0, got {args.accounts}")
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    try:
        with start_devnet(args.accounts, args.seed, args.port, args.anvil_log) as devnet:
            say(WHO, f"Aave V3 and Morpho Blue deployed, {len(devnet.accounts)} Aave accounts "
                f"and {len(devnet.morpho.positions)} Morpho positions seeded in "
                f"{time.perf_counter() - started:.1f}s; JSON-RPC {devnet.rpc_url} "
                f"(WebSocket {devnet.ws_url}), chain id {devnet.manifest['chain_id']}")
            path = devnet.write_manifest(args.manifest)
            say(WHO, f"manifest: {path.resolve()}")
            if args.cascade is not None:
                say(WHO, f"cascade: selling into the {args.cascade_asset} pool until it is "
                    f"{args.cascade:.1%} lower, then keeper and liquidators to quiescence")
                result = cascade(devnet, args.cascade, args.cascade_asset,
                                 report=lambda line: say(WHO, line))
                for line in result.lines():
                    say(WHO, line)
            elif args.drive != NO_DRIVE:
                steps = planned_path(devnet, args.drive, args.steps, args.seed)
                pools = devnet.pools
                liquidator = Liquidator(devnet, pools=pools) if args.liquidator else None
                morpho_liquidator = MorphoLiquidator(devnet, pools=pools) \
                    if args.liquidator else None
                say(WHO, f"driving prices along {args.drive}: {args.steps} steps every "
                    f"{args.interval:g}s; liquidator {'on' if liquidator else 'off'}")
                drive(devnet, steps, args.interval, lambda step: say(WHO, step.line()),
                      liquidator=liquidator, morpho_liquidator=morpho_liquidator)
                say(WHO, f"{args.drive} done; the chain keeps running")
            say(WHO, "Ctrl-C to stop")
            threading.Event().wait()
    except KeyboardInterrupt:
        say(WHO, "stopped")
        return 0
    except ValueError as exc:  # an unknown price path or bad start prices
        say(WHO, str(exc))
        return 2
    except (AnvilError, ArtifactError, SeedError, TxFailed, RpcError, OSError) as exc:
        print(f"{WHO}: {exc}", file=sys.stderr)
        return 1
    return 0
