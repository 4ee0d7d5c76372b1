"""The follower with the Morpho Blue adapter against the real contract on Anvil, publishing into
a real (Tansu) broker.

Checks: `monitor ingest --protocol morpho-blue --morpho ADDR --markets ...` publishes exactly
those markets' positions and prices, each as the contract computes it; interest accrues as the
contract accrues it; a reorg and a restart leave the final state equal to a fresh ingest.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.devnet.artifacts import aave
from monitor.devnet.devnet import Devnet
from monitor.risk import from_snapshot, health_factor
from monitor.run.broker import EmbeddedBroker
from monitor.sources.evm.touches import END_OF_BLOCK
from monitor.sources.ingest import manifest_source
from tests.integration.ingest_runs import Runs
from tests.integration.records import count, final_state, read_topics

pytestmark = pytest.mark.integration

MONTH_S = 30 * 24 * 3600


@pytest.fixture
def chain(clean_devnet: Devnet) -> Devnet:
    """The shared devnet, put back as found after the test."""
    return clean_devnet


def runs(devnet: Devnet, broker: EmbeddedBroker) -> Runs:
    """Ingests of the devnet's Morpho Blue (every market) from its deploy block."""
    return Runs(devnet, broker.bootstrap, [manifest_source(devnet.manifest, "morpho-blue")],
                int(devnet.manifest["morpho_blue"]["deploy_block"]))


def borrow_more(devnet: Devnet, name: str, account: str, fraction: float = 0.05) -> None:
    """`account` borrows a small part of what it may still borrow in market `name`."""
    morpho = devnet.morpho
    health = morpho.health(name, account)
    amount = int((health.max_borrow - health.borrowed) * fraction)
    assert amount > 0, f"{account} cannot borrow more in {name}"
    art = morpho.art["Morpho"]
    devnet.rpc.call("anvil_impersonateAccount", account)
    devnet.rpc.transact(account, morpho.deployment.address, art.call_data(
        "borrow", morpho.market(name).params.words(), amount, 0, account, account),
        f"borrow {name} by {account}")
    devnet.rpc.call("anvil_stopImpersonatingAccount", account)


def borrowers(devnet: Devnet, n: int) -> list[tuple[str, str]]:
    """`n` seeded positions, in different markets where possible, with borrowing headroom."""
    found: list[tuple[str, str]] = []
    for name, account in sorted(devnet.morpho.positions, key=lambda p: (p[1], p[0])):
        health = devnet.morpho.health(name, account)
        if health.max_borrow > 1.2 * health.borrowed and name not in {m for m, _ in found[-2:]}:
            found.append((name, account))
            if len(found) == n:
                return found
    raise AssertionError("the devnet has too few Morpho positions with borrowing headroom")


def assert_is_the_contracts(devnet: Devnet, snap: dict[str, Any],
                            prices: dict[str, dict[str, Any]]) -> None:
    """A snapshot's health factor, at its market price, is maxBorrow / borrowed at its block."""
    market_id, account = snap["position_id"].split(":")[2:]
    name = next(n for n, m in devnet.morpho.deployment.markets.items() if m.id == market_id)
    health = devnet.morpho.health(name, account, snap["version"][0])
    quote = {key: update["price"] for key, update in prices.items()}
    assert health_factor(from_snapshot(snap), quote) == health.max_borrow / health.borrowed


def test_cli_follows_the_markets_it_is_given(chain: Devnet, broker: EmbeddedBroker,
                                             tmp_path: Path) -> None:
    m = chain.manifest
    chosen = ("WETH/USDC", "LINK/USDC")
    ids = [m["morpho_blue"]["markets"][name]["id"] for name in chosen]
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "ingest", "--protocol", "morpho-blue", "--morpho",
         m["morpho_blue"]["address"], "--markets", ",".join(ids), "--rpc", m["rpc_url"],
         "--from-block", str(m["morpho_blue"]["deploy_block"]), "--broker", broker.url,
         "--confirmations", "0", "--once", "--checkpoint", str(tmp_path / "cp.json")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    published = int(done.stdout.split(" snapshots")[0].rsplit(" ", 1)[1]) + \
        int(done.stdout.split(" prices")[0].rsplit(" ", 1)[1])
    state = final_state(asyncio.run(read_topics(broker.bootstrap, published)))
    positions = {k: v for (t, k), v in state.items() if t == "positions"}
    prices = {k: v for (t, k), v in state.items() if t == "prices"}
    chain_id = m["chain_id"]
    assert set(prices) == {f"morpho-blue:{chain_id}:{i}" for i in ids}
    expected = {f"morpho-blue:{chain_id}:{m['morpho_blue']['markets'][name]['id']}:{a}"
                for name in chosen for a in m["morpho_blue"]["markets"][name]["accounts"]}
    assert set(positions) == expected
    for snap in positions.values():
        assert snap["protocol"] == "morpho-blue" and snap["close_factor"] == 1.0
        assert_is_the_contracts(chain, snap, prices)


async def test_interest_accrues_as_the_contract_accrues_it(
        chain: Devnet, broker: EmbeddedBroker, tmp_path: Path) -> None:
    morpho = chain.morpho
    name, account = next(p for p in morpho.positions if p[0] == "WBTC/USDC")
    market = morpho.market(name)
    checkpoint = tmp_path / "cp.json"
    published = count(await runs(chain, broker).once(checkpoint))
    chain.rpc.call("evm_increaseTime", hex(MONTH_S))
    lp, art = chain.liquidity_provider, morpho.art["Morpho"]
    chain.rpc.transact(lp, market.params.collateral_token,
                       aave("MintableERC20").call_data("mint", lp, 10**6), "mint WBTC")
    chain.rpc.transact(lp, morpho.deployment.address, art.call_data(
        "supplyCollateral", market.params.words(), 10**6, account, b""), "supplyCollateral")
    block = chain.block_number()  # supplyCollateral accrues nothing: a month is pending
    stored = morpho.state(name, block)
    assert stored.last_update + MONTH_S <= morpho.accrued(name, block).last_update
    published += count(await runs(chain, broker).once(checkpoint))
    state = final_state(await read_topics(broker.bootstrap, published))
    snap = state[("positions", f"morpho-blue:{chain.manifest['chain_id']}:{market.id}:{account}")]
    assert snap["version"][0] == block
    debt = snap["debt"][0]
    assert Decimal(debt["amount"]).scaleb(debt["decimals"]) == morpho.borrowed(name, account,
                                                                                block)
    later = morpho.accrued(name, block).last_update + 60
    predicted = morpho.accrued(name, block, until=later)
    chain.rpc.call("evm_setNextBlockTimestamp", hex(later))
    chain.rpc.transact(lp, morpho.deployment.address,
                       art.call_data("accrueInterest", market.params.words()), "accrueInterest")
    booked = morpho.state(name)  # the contract's own accrual over the same seconds
    assert booked.total_borrow_assets == predicted.total_borrow_assets > \
        stored.total_borrow_assets
    assert booked.total_supply_assets == predicted.total_supply_assets
    assert booked.last_update == later


async def test_reorg_leaves_the_state_of_a_fresh_ingest(chain: Devnet, broker: EmbeddedBroker,
                                                        tmp_path: Path) -> None:
    x, y, z = borrowers(chain, 3)

    def orphaned() -> None:
        borrow_more(chain, *x)
        borrow_more(chain, *y)
        chain.set_price("LINK", chain.price("LINK") * 1.1)  # moves the LINK/USDC oracle

    def kept() -> None:
        borrow_more(chain, *z)
        chain.set_price("WBTC", chain.price("WBTC") * 0.95)

    state = await runs(chain, broker).reorg(tmp_path, orphaned, kept)  # the LINK quote is gone
    chain_id = chain.manifest["chain_id"]
    for name, account in (x, y):  # re-emitted after the fork, with a version beating the orphan's
        pid = f"morpho-blue:{chain_id}:{chain.morpho.market(name).id}:{account}"
        assert state[("positions", pid)]["version"][1] == END_OF_BLOCK


async def test_restart_from_the_checkpoint_neither_misses_nor_duplicates(
        chain: Devnet, broker: EmbeddedBroker, tmp_path: Path) -> None:
    x, y = borrowers(chain, 2)

    def changes() -> None:
        borrow_more(chain, *x)
        chain.set_price("USDC", 0.999)  # every market's oracle moves
        borrow_more(chain, *y)

    state = await runs(chain, broker).restart(tmp_path, changes)
    assert {k for t, k in state if t == "prices"} == {
        f"morpho-blue:{chain.manifest['chain_id']}:{market['id']}"
        for market in chain.manifest["morpho_blue"]["markets"].values()}
