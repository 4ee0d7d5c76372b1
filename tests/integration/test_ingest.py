"""The follower with the Aave V3 adapter against the real contracts on Anvil, publishing into a real
(Tansu) broker.

Checks: backfilled snapshots equal the chain's own accounting (getUserAccountData at the
snapshot's block, recomputed from the legs with Aave's integer steps); a price move becomes a
price update; a reorg and a restart leave the final state equal to a fresh ingest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3
from web3.types import RPCEndpoint

from monitor.devnet.devnet import Devnet
from monitor.run.broker import EmbeddedBroker
from monitor.sources.evm.touches import END_OF_BLOCK
from monitor.sources.ingest import manifest_source
from tests.integration.ingest_runs import Runs
from tests.integration.records import count, final_state, read_topics

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "node_modules/@aave/core-v3/artifacts/contracts"


def _abi(rel: str) -> list[dict[str, Any]]:
    """An ABI from the @aave/core-v3 artifacts."""
    abi: list[dict[str, Any]] = json.loads((ARTIFACTS / rel).read_text())["abi"]
    return abi


POOL_ABI = _abi("interfaces/IPool.sol/IPool.json")
ORACLE_ABI = _abi("misc/AaveOracle.sol/AaveOracle.json")


@pytest.fixture
def chain(clean_devnet: Devnet) -> Devnet:
    """The shared devnet, put back as found after the test."""
    return clean_devnet


def runs(devnet: Devnet, broker: EmbeddedBroker) -> Runs:
    """Ingests of the devnet's Aave V3 pool from its deploy block."""
    return Runs(devnet, broker.bootstrap, [manifest_source(devnet.manifest)],
                int(devnet.manifest["deploy_block"]))


def impersonated_borrow(devnet: Devnet, account: str, asset: str, fraction: float = 0.05) -> None:
    """`account` borrows a small part of what it may still borrow of `asset` (variable rate)."""
    w3: Web3 = devnet.w3
    m = devnet.manifest
    pool = w3.eth.contract(address=Web3.to_checksum_address(m["pool"]), abi=POOL_ABI)
    who = Web3.to_checksum_address(account)
    data = pool.functions.getUserAccountData(who).call()
    spec = m["assets"][asset]
    amount = int(data[2] * fraction * 10 ** spec["decimals"] // spec_price(devnet, asset))
    assert amount > 0, f"{account} cannot borrow {asset}"
    w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [who])
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [who, hex(10**20)])
    tx = pool.functions.borrow(Web3.to_checksum_address(spec["address"]), amount, 2, 0, who) \
        .transact({"from": who})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    w3.provider.make_request(RPCEndpoint("anvil_stopImpersonatingAccount"), [who])


def spec_price(devnet: Devnet, asset: str) -> int:
    """AaveOracle's price (1e8 USD) of a manifest asset now."""
    return round(devnet.price(asset) * 1e8)


def borrowers(devnet: Devnet, n: int) -> list[str]:
    """`n` seeded accounts with room to borrow more."""
    found = []
    for account in devnet.manifest["accounts"]:
        data = devnet.user_account_data(account)
        if data.available_borrows_base > 10**8 and data.health_factor > 12 * 10**17:
            found.append(account)
            if len(found) == n:
                return found
    raise AssertionError("the devnet has too few accounts with borrowing headroom")


def _contract(devnet: Devnet, name: str, abi: list[dict[str, Any]]) -> Any:
    """A web3 contract (used for its ABI encoding) at a manifest address."""
    return devnet.w3.eth.contract(address=Web3.to_checksum_address(devnet.manifest[name]),
                                  abi=abi)


def chain_accounting(devnet: Devnet, snaps: list[dict[str, Any]]
                     ) -> tuple[list[tuple[int, ...]], dict[int, dict[str, int]]]:
    """getUserAccountData of each snapshot's account at the snapshot's block, and AaveOracle
    prices (1e8 USD) at each of those blocks, in two JSON-RPC batches."""
    pool, oracle = _contract(devnet, "pool", POOL_ABI), _contract(devnet, "oracle", ORACLE_ABI)
    blocks = sorted({s["version"][0] for s in snaps})
    assets = devnet.manifest["assets"]
    data = devnet.rpc.batch([("eth_call", [{"to": pool.address, "data": pool.encode_abi(
        "getUserAccountData", args=[Web3.to_checksum_address(s["account"])])},
        hex(s["version"][0])]) for s in snaps])
    price_calls = [("eth_call", [{"to": oracle.address, "data": oracle.encode_abi(
        "getAssetPrice", args=[Web3.to_checksum_address(spec["address"])])}, hex(b)])
        for b in blocks for spec in assets.values()]
    answers = iter(devnet.rpc.batch(price_calls))
    prices = {b: {name: decode(["uint256"], bytes.fromhex(next(answers)[2:]))[0]
                  for name in assets} for b in blocks}
    return [tuple(decode(["uint256"] * 6, bytes.fromhex(d[2:]))) for d in data], prices


def _units(amount: str, decimals: int) -> int:
    """An exact decimal string back to integer token units."""
    whole, _, frac = amount.partition(".")
    scale: int = 10 ** decimals  # int ** int is Any in typeshed (a negative power is a float)
    return int(whole) * scale + int(frac.ljust(decimals, "0") or 0)


def assert_matches_chain(snap: dict[str, Any], user_data: tuple[int, ...],
                         prices: dict[str, int]) -> None:
    """The legs, valued with Aave's integer steps at the snapshot's block, give exactly the
    pool's totalCollateralBase, totalDebtBase and currentLiquidationThreshold."""
    coll = debt = weighted = 0
    for leg in snap["collateral"]:
        value = _units(leg["amount"], leg["decimals"]) * prices[leg["asset"]] \
            // 10 ** leg["decimals"]
        coll += value
        weighted += value * round(leg["liquidation_threshold"] * 1e4)
    for leg in snap["debt"]:
        debt += _units(leg["amount"], leg["decimals"]) * prices[leg["asset"]] \
            // 10 ** leg["decimals"]
    total_coll, total_debt, _, lt, _, _ = user_data
    assert (coll, debt) == (total_coll, total_debt), snap
    assert (weighted // coll if coll else 0) == lt, snap


async def test_cli_backfill_publishes_every_seeded_account_matching_the_chain(
        chain: Devnet, broker: EmbeddedBroker, tmp_path: Path) -> None:
    manifest = tmp_path / "devnet.json"
    manifest.write_text(json.dumps(chain.manifest))
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "ingest", "--manifest", str(manifest), "--broker",
         broker.url, "--confirmations", "0", "--once", "--checkpoint", str(tmp_path / "cp.json")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "blocks/s" in done.stderr and "ETA" in done.stderr
    published = int(done.stdout.split(" snapshots")[0].rsplit(" ", 1)[1]) + \
        int(done.stdout.split(" prices")[0].rsplit(" ", 1)[1])
    records = await read_topics(broker.bootstrap, published)
    assert len(records) == published
    state = final_state(records)
    chain_id = chain.manifest["chain_id"]
    expected = {f"aave-v3:{chain_id}:{a}" for a in chain.manifest["accounts"]}
    positions = {k: v for (t, k), v in state.items() if t == "positions"}
    assert expected <= positions.keys()
    snaps = [positions[pid] for pid in sorted(expected)]
    user_data, prices_at = chain_accounting(chain, snaps)
    for snap, data in zip(snaps, user_data, strict=True):
        assert snap["protocol"] == "aave-v3" and snap["kind"] == "lending"
        assert snap["position_id"] == f"aave-v3:{chain_id}:{snap['account']}"
        assert snap["closed"] is (not snap["collateral"] and not snap["debt"])
        assert_matches_chain(snap, data, prices_at[snap["version"][0]])
    prices = {k: v for (t, k), v in state.items() if t == "prices"}
    now = {name: round(p * 1e8) for name, p in chain.prices().items()}
    assert {k: round(v["price"] * 1e8) for k, v in prices.items()} == now
    for name, update in prices.items():
        aggregator = chain.manifest["assets"][name]["aggregator"].lower()
        assert update["source"] == f"chainlink:{aggregator}"


async def test_price_move_publishes_a_price_update(chain: Devnet, broker: EmbeddedBroker,
                                                   tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    first = count(await runs(chain, broker).once(checkpoint))
    head = chain.w3.eth.block_number
    new_price = spec_price(chain, "WETH") / 1e8 * 0.93
    chain.set_price("WETH", new_price)
    over_ws = await runs(chain, broker).once(checkpoint, chain.ws_url)
    second = count(over_ws)  # the follower resumes over WebSocket from the same checkpoint
    records = await read_topics(broker.bootstrap, first + second)
    moved = [v for t, k, v in records if t == "prices" and k == "WETH" and v["version"][0] > head]
    assert len(moved) == 1
    assert round(moved[0]["price"] * 1e8) == spec_price(chain, "WETH")
    assert moved[0]["version"][0] > head
    aggregator = chain.manifest["assets"]["WETH"]["aggregator"].lower()
    assert moved[0]["source"] == f"chainlink:{aggregator}"


async def test_reorg_leaves_the_state_of_a_fresh_ingest(chain: Devnet, broker: EmbeddedBroker,
                                                        tmp_path: Path) -> None:
    x, y, z = borrowers(chain, 3)

    def orphaned() -> None:
        impersonated_borrow(chain, x, "USDC")
        impersonated_borrow(chain, y, "WETH")
        chain.set_price("LINK", spec_price(chain, "LINK") / 1e8 * 1.1)

    def kept() -> None:
        impersonated_borrow(chain, z, "USDC")
        chain.set_price("WBTC", spec_price(chain, "WBTC") / 1e8 * 0.95)

    state = await runs(chain, broker).reorg(tmp_path, orphaned, kept)
    for account in (x, y):  # re-emitted after the fork, with a version beating the orphan's
        pid = f"aave-v3:{chain.manifest['chain_id']}:{account}"
        assert state[("positions", pid)]["version"][1] == END_OF_BLOCK


async def test_restart_from_the_checkpoint_neither_misses_nor_duplicates(
        chain: Devnet, broker: EmbeddedBroker, tmp_path: Path) -> None:
    x, y = borrowers(chain, 2)

    def changes() -> None:
        impersonated_borrow(chain, x, "LINK")
        chain.set_price("USDC", 0.999)
        impersonated_borrow(chain, y, "USDC")

    await runs(chain, broker).restart(tmp_path, changes)


async def test_liquidation_call_is_ingested_and_matches_the_chain(
        chain: Devnet, broker: EmbeddedBroker, tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    published = count(await runs(chain, broker).once(checkpoint))
    data = chain.account_data()
    weth_price = chain.price("WETH")
    chain.set_price("WETH", weth_price * 0.5)
    after = chain.account_data()
    victim = next(a for a in sorted(after, key=lambda a: after[a].health_factor)
                  if after[a].health_factor < 10**18 <= data[a].health_factor
                  and chain.debt_of(a, "USDC") > 0
                  and _supplied(chain, a, "WETH") > 0)
    receipt = chain.liquidate(victim, "WETH", "USDC")
    published += count(await runs(chain, broker).once(checkpoint))
    pid = f"aave-v3:{chain.manifest['chain_id']}:{victim}"
    state = final_state(await read_topics(broker.bootstrap, published))
    snap = state[("positions", pid)]
    assert snap["version"][0] == receipt["blockNumber"]
    (user_data,), prices_at = chain_accounting(chain, [snap])
    assert_matches_chain(snap, user_data, prices_at[snap["version"][0]])
    assert user_data[1] < after[victim].total_debt_base  # debt was repaid


def _supplied(devnet: Devnet, account: str, asset: str) -> int:
    """The account's aToken balance of `asset`."""
    a_token = devnet.w3.eth.contract(
        address=Web3.to_checksum_address(devnet.manifest["assets"][asset]["a_token"]),
        abi=_abi("interfaces/IAToken.sol/IAToken.json"))
    return int(a_token.functions.balanceOf(Web3.to_checksum_address(account)).call())
