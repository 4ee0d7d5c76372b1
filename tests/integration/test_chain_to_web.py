"""Chain to web, every part real: Aave V3 on Anvil → the ingester → Tansu → a worker → HTTP.

What a user reads at GET /positions/{id}/ must be what the pool itself says: the health factor
of every seeded account equals getUserAccountData at the block the ingester read (1e-9
relative); the served WETH liquidation price p* is where the pool starts liquidating (at
p*·(1 + 1e-4) liquidationCall reverts with Aave's error 45, at p*·(1 − 1e-4) it succeeds); and a
LiquidationCall is followed into the web view, which then matches the chain again.

One devnet (the session's), broker, worker and ingester serve the whole module; each test puts
the chain back with evm_snapshot / evm_revert. The ingester follows the head in a thread and
remembers the newest version it published per key, so "caught up" is exact, not a sleep.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

import pytest

from monitor.devnet.devnet import AccountData, Devnet
from monitor.devnet.node_rpc import LiquidationFailed
from monitor.run.broker import EmbeddedBroker
from monitor.sources.ingest import manifest_source
from monitor.wire import POSITIONS
from tests.integration.chain_stack import Stack, relative, stack_for

pytestmark = pytest.mark.integration

WAD: Final = 10**18
BASE_UNIT: Final = 1e8  # getUserAccountData's base currency: USD with 8 decimals
HF_REL_TOL: Final = 1e-9
PRICE_STEP: Final = 1e-4  # how far either side of the served liquidation price the pool is tried
SAMPLE_SIZE: Final = 10
NOT_LIQUIDATABLE: Final = "45"  # Aave V3 Errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD


def chain_agreement(stack: Stack, bodies: dict[str, dict[str, Any]]) -> float:
    """Assert that each served position equals getUserAccountData at the block the ingester
    read it (health factor, collateral and debt USD to 1e-9); the largest HF error."""
    blocks = {int(body["version"][0]) for body in bodies.values()}
    chain: dict[int, dict[str, AccountData]] = {b: stack.devnet.account_data(b) for b in blocks}
    oracle = {(a, b): stack.devnet.price(a, b) for b in blocks for a in stack.devnet.assets}
    worst = 0.0
    for account, body in bodies.items():
        block = int(body["version"][0])
        for asset, price in body["prices"].items():
            assert price == oracle[(asset, block)], \
                f"{account}: served {asset} price {price} is not the oracle's at block {block}"
        data = chain[block][account]
        assert data.total_debt_base > 0, f"{account} has no debt on chain"
        expected_hf = data.health_factor / WAD
        error = relative(body["health_factor"], expected_hf)
        worst = max(worst, error)
        assert error <= HF_REL_TOL, (f"{account} at block {block}: served HF "
                                     f"{body['health_factor']!r}, chain {expected_hf!r}")
        assert math.isclose(body["collateral_usd"], data.total_collateral_base / BASE_UNIT,
                            rel_tol=HF_REL_TOL), f"{account}: collateral_usd"
        assert math.isclose(body["debt_usd"], data.total_debt_base / BASE_UNIT,
                            rel_tol=HF_REL_TOL), f"{account}: debt_usd"
    return worst


@pytest.fixture(scope="module")
def stack(module_chain: Devnet, module_broker: EmbeddedBroker,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A ready worker, then the ingester following the devnet's pool from its deploy block."""
    with stack_for(module_chain, module_broker, tmp_path_factory.mktemp("chain-to-web"),
                   [manifest_source(module_chain.manifest)]) as running_stack:
        yield running_stack


@pytest.fixture(scope="module")
def baseline(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every seeded account as served once the pipeline caught up with the seeded chain."""
    return {account: stack.current(account) for account in stack.devnet.accounts}


def weth_sample(stack: Stack, baseline: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(account, debt asset to repay) for up to SAMPLE_SIZE accounts with WETH collateral and
    only non-WETH debt whose served WETH level is long, spread over position shapes (one or
    several collateral and debt legs) in a fixed order."""
    shapes: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for account in sorted(baseline):
        snap = stack.published.get(POSITIONS, stack.position_id(account))
        assert snap is not None
        collateral = {leg["asset"] for leg in snap["collateral"]}
        debts = sorted(snap["debt"], key=lambda leg: -float(leg["amount"]) *
                       baseline[account]["prices"][leg["asset"]])
        level = baseline[account]["liquidation_prices"].get("WETH")
        if ("WETH" in collateral and debts and all(d["asset"] != "WETH" for d in debts)
                and level is not None and level["side"] == "long"):
            shapes.setdefault((len(collateral), len(debts)), []).append(
                (account, debts[0]["asset"]))
    sample: list[tuple[str, str]] = []
    while len(sample) < SAMPLE_SIZE and any(shapes.values()):
        for group in shapes.values():
            if group and len(sample) < SAMPLE_SIZE:
                sample.append(group.pop(0))
    return sample


def test_served_health_factor_of_every_seeded_account_equals_the_pool(
        stack: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    assert len(baseline) == len(stack.devnet.accounts) >= 100
    worst = chain_agreement(stack, baseline)
    print(f"\nhealth factor: {len(baseline)} accounts, max relative error {worst:.3g}")


def test_pool_liquidates_exactly_below_the_served_weth_liquidation_price(
        stack: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    sample = weth_sample(stack, baseline)
    assert len(sample) == SAMPLE_SIZE, f"only {len(sample)} WETH-collateral accounts"
    devnet = stack.devnet
    others = {a: devnet.price(a) for a in devnet.assets if a != "WETH"}
    for account, debt_asset in sample:
        p_star = baseline[account]["liquidation_prices"]["WETH"]["price"]
        snapshot = devnet.snapshot()
        try:
            devnet.set_price("WETH", p_star * (1 + PRICE_STEP))
            with pytest.raises(LiquidationFailed) as refused:
                devnet.liquidate(account, "WETH", debt_asset)
            assert refused.value.reason == NOT_LIQUIDATABLE, \
                f"{account} at p*(1+1e-4): {refused.value}"
            devnet.set_price("WETH", p_star * (1 - PRICE_STEP))
            receipt = devnet.liquidate(account, "WETH", debt_asset)
            assert receipt["status"] == 1
            assert {a: devnet.price(a) for a in others} == others
        finally:
            stack.revert(snapshot)
    print(f"\nliquidation boundary: {len(sample)} accounts checked at p*(1 ± {PRICE_STEP:g})")


def test_a_liquidation_is_ingested_and_served_as_the_chain_has_it(
        restored: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    stack, devnet = restored, restored.devnet
    account, debt_asset = weth_sample(stack, baseline)[0]
    p_star = baseline[account]["liquidation_prices"]["WETH"]["price"]
    devnet.set_price("WETH", p_star * (1 - PRICE_STEP))
    receipt = devnet.liquidate(account, "WETH", debt_asset)
    liquidated_at = int(receipt["blockNumber"])
    if devnet.block_number() <= stack.highest_orphan:  # outgrow branches earlier tests left
        devnet.mine(stack.highest_orphan - devnet.block_number() + 1)

    served = stack.current(account)
    assert served["version"][0] >= liquidated_at, "the LiquidationCall was not ingested"
    assert served["debt_usd"] < baseline[account]["debt_usd"]
    worst = chain_agreement(stack, {account: served})
    print(f"\nafter liquidation: {account} served HF {served['health_factor']}, "
          f"relative error {worst:.3g}")
