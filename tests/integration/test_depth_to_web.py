"""Observed depth, chain to web: the Uniswap v2 pairs on Anvil → the follower's uniswap-v2 source
→ `depth` → the worker's depth feature → GET /cascades/{asset}/.

The served projection says its depth is observed, from exactly the pools and reserves the chain
holds; a sale into the WETH pool changes those reserves, and the served WETH projection follows
(reserves, and the trigger it projects from them); a sale a reorg removes is undone (the pool
re-read at the winning chain's block, a newer version than the orphaned one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest

from monitor.devnet.devnet import Devnet
from monitor.run.broker import EmbeddedBroker
from monitor.sources.ingest import manifest_sources
from tests.integration.cascade_truth import DEVNET_MODEL
from tests.integration.chain_stack import Stack, stack_for
from tests.integration.stream_harness import eventually

pytestmark = pytest.mark.integration

CATCH_UP_S: Final = 90.0


@pytest.fixture(scope="module")
def stack(module_chain: Devnet, module_broker: EmbeddedBroker,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker valuing the devnet with its model, and one follower of every manifest source
    (Aave V3, Morpho Blue, the Uniswap v2 factory's pairs)."""
    with stack_for(module_chain, module_broker, tmp_path_factory.mktemp("depth-to-web"),
                   manifest_sources(module_chain.manifest),
                   config_path=DEVNET_MODEL) as running_stack:
        yield running_stack


def served_with_reserves(stack: Stack, asset: str, triggered: bool = False) -> dict[str, Any]:
    """GET /cascades/{asset}/ once its observed pool carries the chain's current reserves (and,
    if `triggered`, once it projects a down trigger: the seeded book's projection has one)."""
    pools = stack.devnet.pools
    address = pools.deployment.pools[asset].address
    base, quote = pools.reserves(asset)

    def check() -> dict[str, Any]:
        status, body = stack.worker.get(f"/cascades/{asset}/")
        assert status == 200, f"/cascades/{asset}/: HTTP {status}"
        depth = body["depth"]
        assert depth["source"] == "observed", depth
        (pool,) = depth["pools"]
        assert pool["pool"] == address
        held = dict(zip(pool["assets"], pool["reserves"], strict=True))
        assert held[asset] == pytest.approx(base, rel=1e-12), "reserves lag the chain"
        assert held["USDC"] == pytest.approx(quote, rel=1e-12)
        assert not triggered or body["down"]["trigger_price"] is not None, "no down trigger yet"
        return dict(body)
    return eventually(check, timeout=CATCH_UP_S)


def test_every_pooled_asset_is_projected_on_its_observed_pool(stack: Stack) -> None:
    for asset in stack.devnet.pools.assets:
        body = served_with_reserves(stack, asset)
        assert body["depth"]["pools"][0]["fee"] == 0.003
    status, body = stack.worker.get("/cascades/USDC/")
    if status == 200:  # USDC is the pools' quote: its depth stays the configured model
        assert body["depth"]["source"] == "configured"


def test_a_sale_into_the_pool_changes_the_served_projection(restored: Stack) -> None:
    stack = restored
    stack.settled()  # the book whole: its projection on the pool's depth has a down trigger
    before = served_with_reserves(stack, "WETH", triggered=True)
    stack.devnet.pools.move(stack.devnet.deployer, "WETH", 0.9)  # a deep sale, oracle untouched
    after = served_with_reserves(stack, "WETH")
    assert after["depth"]["pools"][0]["reserves"] != before["depth"]["pools"][0]["reserves"]
    assert after["computed_at"] > before["computed_at"]
    assert after["price"] == before["price"], "the oracle did not move: only the depth did"
    assert (after["down"]["terminal_price"], after["down"]["trigger_price"]) != \
        (before["down"]["terminal_price"], before["down"]["trigger_price"])


def test_a_sale_undone_by_a_reorg_leaves_the_depth_of_the_chain_that_won(stack: Stack) -> None:
    chain = stack.devnet
    stack.outgrow_orphans()  # what an earlier test's revert left pending is re-read
    served_with_reserves(stack, "WETH")
    snapshot = chain.snapshot()
    chain.pools.move(chain.deployer, "WETH", 0.95)
    orphaned = served_with_reserves(stack, "WETH")
    stack.revert(snapshot)  # the sale's blocks are replaced by empty ones
    stack.outgrow_orphans()
    restored = served_with_reserves(stack, "WETH")
    assert restored["depth"]["pools"][0]["reserves"] != orphaned["depth"]["pools"][0]["reserves"]
    assert restored["depth"]["pools"][0]["version"] > orphaned["depth"]["pools"][0]["version"]
