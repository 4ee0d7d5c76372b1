"""Benchmark: Aave V3 and Morpho Blue log decoding (fast path vs web3's process_log) and
end-to-end ingestion of both protocols in one follower.

Starts the local devnet (Anvil + real Aave V3 and Morpho Blue, seeded accounts) and an embedded
broker, takes the devnet's real logs of each protocol for the decoding runs, then backfills the
whole devnet into the broker.

python benchmarks/ingest.py [--accounts 300] [--repeat 5]  -> JSON with medians
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from monitor.devnet.devnet import start_devnet
from monitor.devnet.morpho_deploy import morpho_artifacts
from monitor.run.broker import EmbeddedBroker
from monitor.sources.aave_v3.events import SPECS
from monitor.sources.aave_v3.market import discover, load_reserves
from monitor.sources.evm.decoder import EventSpec, decode_log
from monitor.sources.evm.follower import FollowConfig
from monitor.sources.evm.logs import LogFilter
from monitor.sources.evm.rpc import Rpc
from monitor.sources.ingest import ingest, manifest_sources
from monitor.sources.morpho_blue.events import SPECS as MORPHO_SPECS

ARTIFACTS = Path(__file__).resolve().parents[1] / "node_modules/@aave/core-v3/artifacts/contracts"
ABI_FILES = ("interfaces/IPool.sol/IPool.json", "interfaces/IAToken.sol/IAToken.json",
             "interfaces/IPoolConfigurator.sol/IPoolConfigurator.json",
             "misc/AaveOracle.sol/AaveOracle.json",
             "dependencies/chainlink/AggregatorInterface.sol/AggregatorInterface.json")
DECODE_LOGS = 50_000
WEB3_LOGS = 2_000


def median_rate(count: int, fn: Any, repeat: int) -> float:
    """Median of count / wall seconds of `fn` over `repeat` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(count / (time.perf_counter() - start))
    return statistics.median(samples)


async def devnet_logs(rpc_url: str, manifest: dict[str, Any]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The devnet's raw logs of every event each adapter decodes: (Aave V3's, Morpho Blue's)."""
    async with Rpc(rpc_url) as rpc:
        market = await discover(rpc, manifest["pool"])
        await load_reserves(rpc, market, "latest")
        head = await rpc.block_number()
        start = int(manifest["deploy_block"])
        aave = LogFilter(market.watched(), tuple(SPECS))
        morpho = LogFilter((manifest["morpho_blue"]["address"],), tuple(MORPHO_SPECS))
        return (list(await rpc.call("eth_getLogs", [aave.params(start, head)])),
                list(await rpc.call("eth_getLogs", [morpho.params(start, head)])))


def _canonical(inp: dict[str, Any]) -> str:
    """An ABI input's canonical type (tuples spelt out)."""
    if inp["type"] == "tuple":
        return f"({','.join(_canonical(c) for c in inp['components'])})"
    return str(inp["type"])


def web3_decoders(abis: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """topic0 -> web3 contract event of the real ABIs (the slow path)."""
    w3 = Web3()
    found: dict[str, Any] = {}
    for abi in abis:
        contract = w3.eth.contract(abi=abi)
        for entry in abi:
            if entry["type"] == "event":
                sig = f"{entry['name']}({','.join(_canonical(i) for i in entry['inputs'])})"
                found.setdefault("0x" + Web3.keccak(text=sig).hex().removeprefix("0x"),
                                 contract.events[entry["name"]]())
    return found


def web3_log(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw log in the shape web3's formatters give process_log (not timed)."""
    return {"address": Web3.to_checksum_address(raw["address"]),
            "topics": [bytes.fromhex(t[2:]) for t in raw["topics"]],
            "data": bytes.fromhex(raw["data"][2:]), "blockNumber": int(raw["blockNumber"], 16),
            "logIndex": int(raw["logIndex"], 16), "blockHash": bytes.fromhex(raw["blockHash"][2:]),
            "transactionHash": bytes.fromhex(raw["transactionHash"][2:]),
            "transactionIndex": int(raw["transactionIndex"], 16)}


def decoding(logs: list[dict[str, Any]], specs: dict[str, EventSpec],
             abis: list[list[dict[str, Any]]], repeat: int) -> dict[str, Any]:
    """Logs/s of the fast decoder and of web3's process_log on the same real logs."""
    ours = [entry for entry in logs if entry["topics"] and entry["topics"][0] in specs]
    tiled = (ours * (DECODE_LOGS // max(len(ours), 1) + 1))[:DECODE_LOGS]
    fast = median_rate(len(tiled), lambda: [decode_log(e, specs) for e in tiled], repeat)
    events = web3_decoders(abis)
    sample = [(events[e["topics"][0]], web3_log(e)) for e in tiled[:WEB3_LOGS]]
    slow = median_rate(len(sample), lambda: [ev.process_log(lg) for ev, lg in sample],
                       max(repeat // 2, 1))
    kinds = sorted({specs[e["topics"][0]].name for e in ours})
    return {"real_logs": len(ours), "events": kinds, "fast_logs_per_s": round(fast),
            "web3_process_log_logs_per_s": round(slow), "speedup": round(fast / slow, 1),
            "target_logs_per_s": 20_000, "meets_target": fast >= 20_000}


async def backfill(rpc_url: str, broker: EmbeddedBroker, manifest: dict[str, Any],
                   tmp: Path, run: int) -> dict[str, float]:
    """One full backfill of the devnet into the broker; rates over its wall time."""
    config = FollowConfig(from_block=int(manifest["deploy_block"]), confirmations=0, once=True,
                          checkpoint=tmp / f"cp-{run}.json")
    start = time.perf_counter()
    stats = await ingest(rpc_url, broker.bootstrap, manifest_sources(manifest), config)
    wall = time.perf_counter() - start
    return {"blocks": stats.blocks, "logs": stats.logs, "snapshots": stats.snapshots,
            "prices": stats.prices, "seconds": wall, "blocks_per_s": stats.blocks / wall,
            "logs_per_s": stats.logs / wall, "snapshots_per_s": stats.snapshots / wall}


def main() -> None:
    """Print decoding and end-to-end ingestion medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with start_devnet(n_accounts=args.accounts, seed=0) as devnet, EmbeddedBroker() as broker, \
            tempfile.TemporaryDirectory() as tmp:
        manifest = devnet.manifest
        aave, morpho = asyncio.run(devnet_logs(devnet.rpc_url, manifest))
        aave_abis = [json.loads((ARTIFACTS / rel).read_text())["abi"] for rel in ABI_FILES]
        result: dict[str, Any] = {"decode": {
            "aave-v3": decoding(aave, SPECS, aave_abis, args.repeat),
            "morpho-blue": decoding(morpho, MORPHO_SPECS, [morpho_artifacts()["EventsLib"].abi],
                                    args.repeat)}}
        runs = [asyncio.run(backfill(devnet.rpc_url, broker, manifest, Path(tmp), i))
                for i in range(args.repeat)]
        first = runs[0]
        result["end_to_end"] = {
            "sources": [s.protocol for s in manifest_sources(manifest)],
            "accounts": args.accounts, "morpho_positions": len(devnet.morpho.positions),
            "blocks": first["blocks"], "logs": first["logs"],
            "snapshots": first["snapshots"], "prices": first["prices"], "runs": len(runs),
            **{key: round(statistics.median(r[key] for r in runs), 1)
               for key in ("blocks_per_s", "logs_per_s", "snapshots_per_s")},
            "seconds": round(statistics.median(r["seconds"] for r in runs), 3)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
