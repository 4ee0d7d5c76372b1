"""Chain to web for Morpho Blue beside Aave V3, every part real: both protocols on Anvil → one
follower → Tansu → a worker → HTTP.

What a user reads at GET /positions/{id}/ for a Morpho position must be what Morpho.sol says:
the health factor of every seeded position equals collateral·price/1e36·lltv over borrowed
assets, as the contract rounds them, at the block the ingester read it (1e-9 relative); the
served liquidation price p* is where the contract starts allowing `liquidate` (at p*·(1 + 1e-4)
it reverts "position is healthy", at p*·(1 − 1e-4) it succeeds); a Liquidate is followed into
the web view, including one that books bad debt; and GET /clusters/WETH/ splits its levels
between the two protocols, their sums equal to a recomputation from the chain's own state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

import pytest

from monitor.devnet.aave_deploy import ETH_EMODE, RESERVES
from monitor.devnet.artifacts import aave
from monitor.devnet.devnet import Devnet
from monitor.devnet.morpho_markets import MorphoMarkets
from monitor.devnet.node_rpc import LiquidationFailed
from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    Position,
    build_clusters,
    from_snapshot,
    position_level,
)
from monitor.risk.morpho_blue import (
    ORACLE_PRICE_SCALE,
    WAD,
    liquidation_incentive_factor,
    mul_div_down,
    quoted_price,
)
from monitor.run.broker import EmbeddedBroker
from monitor.sources.evm.decoder import decode_log
from monitor.sources.ingest import manifest_sources
from monitor.sources.morpho_blue.events import SPECS
from monitor.wire import POSITIONS, PRICES
from tests.integration.chain_stack import Stack, relative, stack_for
from tests.integration.stream_harness import eventually

pytestmark = pytest.mark.integration

HF_REL_TOL: Final = 1e-9
PRICE_STEP: Final = 1e-4  # how far either side of the served liquidation price Morpho is tried
PER_MARKET: Final = 3  # positions of each market whose liquidation price is tried
HEALTHY: Final = "position is healthy"  # Morpho's ErrorsLib.HEALTHY_POSITION
CLUSTER_REL_TOL: Final = 1e-6  # interest accrued between the snapshots' blocks and the recompute


@pytest.fixture(scope="module")
def stack(module_chain: Devnet, module_broker: EmbeddedBroker,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker and one follower of every source of the manifest (Aave V3 and Morpho Blue)."""
    with stack_for(module_chain, module_broker, tmp_path_factory.mktemp("morpho-to-web"),
                   manifest_sources(module_chain.manifest)) as running_stack:
        yield running_stack


def morpho_id(devnet: Devnet, name: str, account: str) -> str:
    """The wire position id of a seeded Morpho position."""
    return f"morpho-blue:{devnet.manifest['chain_id']}:{devnet.morpho.market(name).id}:{account}"


@pytest.fixture(scope="module")
def baseline(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    """Every seeded Morpho position as served once the pipeline caught up with the chain."""
    return {(name, account): stack.current_position(morpho_id(stack.devnet, name, account))
            for name, account in stack.devnet.morpho.positions}


def chain_agreement(stack: Stack, bodies: dict[tuple[str, str], dict[str, Any]]) -> float:
    """Assert that each served Morpho position is what the contract computes at the block the
    ingester read it: the served market price is the oracle's there, and the health factor,
    collateral and debt USD equal maxBorrow / borrowed and their values (1e-9); the largest HF
    error."""
    morpho: MorphoMarkets = stack.devnet.morpho
    worst = 0.0
    for (name, account), body in bodies.items():
        block = int(body["version"][0])
        market = morpho.market(name)
        snapshot = stack.published.get(POSITIONS, body["position_id"])
        assert snapshot is not None
        quote = stack.published.get(PRICES, snapshot["market_price"])
        oracle = morpho.price(name, block)
        decimals = stack.devnet.deployment.assets
        assert quote is not None and quote["price"] == quoted_price(
            oracle, decimals[market.spec.collateral].decimals, decimals[market.spec.loan].decimals)
        health = morpho.health(name, account, block)
        assert health.borrowed > 0, f"{account} has no debt in {name} at block {block}"
        error = relative(body["health_factor"], health.max_borrow / health.borrowed)
        worst = max(worst, error)
        assert error <= HF_REL_TOL, (f"{name} {account} at block {block}: served HF "
                                     f"{body['health_factor']!r}, chain "
                                     f"{health.max_borrow / health.borrowed!r}")
        unit = body["prices"][market.spec.loan] / 10 ** decimals[market.spec.loan].decimals
        collateral = morpho.position(name, account, block).collateral
        assert math.isclose(body["collateral_usd"], unit * mul_div_down(
            collateral, oracle, ORACLE_PRICE_SCALE), rel_tol=HF_REL_TOL)
        assert math.isclose(body["debt_usd"], unit * health.borrowed, rel_tol=HF_REL_TOL)
    return worst


def test_served_health_factor_of_every_seeded_morpho_position_equals_the_contract(
        stack: Stack, baseline: dict[tuple[str, str], dict[str, Any]]) -> None:
    morpho = stack.devnet.morpho
    assert len(baseline) == len(morpho.positions) >= 50
    assert {name for name, _ in baseline} == set(morpho.deployment.markets)
    both = set(stack.devnet.accounts) & {account for _, account in baseline}
    assert both, "no account holds positions in both protocols"
    for account in sorted(both)[:5]:  # such an account is served once per protocol
        assert stack.current(account)["protocol"] == "aave-v3"
    worst = chain_agreement(stack, baseline)
    print(f"\nMorpho health factor: {len(baseline)} positions, max relative error {worst:.3g}")


def chain_positions(devnet: Devnet) -> list[Position]:
    """Every seeded position rebuilt from the chain's own state now: Aave's reserves
    (getUserReserveData, eMode) and Morpho's shares, collateral and accrued totals."""
    params = {r.symbol: r for r in RESERVES}
    assets = devnet.deployment.assets
    provider, pool = aave("AaveProtocolDataProvider"), aave("Pool")
    calls = [(a, name) for a in devnet.accounts for name in assets]
    outs = devnet.rpc.batch([("eth_call", [{"to": devnet.deployment.data_provider,
                                            "data": provider.call_data("getUserReserveData",
                                                                       assets[n].address, a)},
                                           "latest"]) for a, n in calls])
    modes = devnet.rpc.batch([("eth_call", [{"to": devnet.deployment.pool, "data": pool.call_data(
        "getUserEMode", a)}, "latest"]) for a in devnet.accounts])
    legs: dict[str, tuple[list[CollateralLeg], list[DebtLeg]]] = {a: ([], []) for a in
                                                                  devnet.accounts}
    emode = {a: int(pool.decode_output("getUserEMode", m, 1)[0])
             for a, m in zip(devnet.accounts, modes, strict=True)}
    for (account, name), out in zip(calls, outs, strict=True):
        supplied, stable, variable, *_rest, enabled = provider.decode_output(
            "getUserReserveData", out, 2)
        unit, reserve = 10 ** assets[name].decimals, params[name]
        lt, bonus = reserve.liquidation_threshold, reserve.liquidation_bonus
        if emode[account] == ETH_EMODE.category and name in ETH_EMODE.assets:
            lt, bonus = ETH_EMODE.liquidation_threshold, ETH_EMODE.liquidation_bonus
        if enabled and supplied:
            legs[account][0].append(CollateralLeg(name, supplied / unit, lt / 1e4,
                                                  (bonus - 10_000) / 1e4))
        if stable + variable:
            legs[account][1].append(DebtLeg(name, (stable + variable) / unit))
    book: list[Position] = [LendingPosition(a, "aave-v3", a, tuple(c), tuple(d))
                            for a, (c, d) in legs.items()]
    for name, account in devnet.morpho.positions:
        market = devnet.morpho.market(name)
        lltv, spec = market.params.lltv, market.spec
        held = devnet.morpho.position(name, account)
        book.append(LendingPosition(
            f"{name}:{account}", "morpho-blue", account,
            (CollateralLeg(spec.collateral, held.collateral / 10 ** assets[spec.collateral]
                           .decimals, lltv / WAD, liquidation_incentive_factor(lltv) / WAD - 1),),
            (DebtLeg(spec.loan, devnet.morpho.borrowed(name, account)
                     / 10 ** assets[spec.loan].decimals),)))
    return book


def totals(levels: list[dict[str, Any]]) -> dict[str, float]:
    """What the levels add up to, per side and per protocol."""
    out: dict[str, float] = {}
    for level in levels:
        side = level["side"]
        for name in ("quantity", "value_usd", "debt_usd", "positions"):
            out[f"{side} {name}"] = out.get(f"{side} {name}", 0.0) + level[name]
        for protocol, usd in level["protocols"].items():
            out[f"{side} {protocol}"] = out.get(f"{side} {protocol}", 0.0) + usd
    return out


def test_weth_clusters_split_both_protocols_and_add_up_to_the_chain(
        stack: Stack, baseline: dict[tuple[str, str], dict[str, Any]]) -> None:
    devnet = stack.devnet
    stack.outgrow_orphans()
    for account in devnet.accounts:  # every Aave position is served too
        stack.current(account)
    for name, account in devnet.morpho.positions:
        stack.current_position(morpho_id(devnet, name, account))
    expected = totals([level.to_dict() for level in build_clusters(
        chain_positions(devnet), "WETH", devnet.prices()).levels])

    def served() -> dict[str, Any]:
        status, body = stack.worker.get("/clusters/WETH/")
        assert status == 200, body
        got = totals(body["levels"])
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=CLUSTER_REL_TOL), key
        return dict(body)
    body = eventually(served)
    got = totals(body["levels"])
    protocols = {p for level in body["levels"] for p in level["protocols"]}
    assert protocols == {"aave-v3", "morpho-blue"}
    shared = [level for level in body["levels"] if len(level["protocols"]) == 2]
    print(f"\nGET /clusters/WETH/: {len(body['levels'])} levels, {len(shared)} shared by both "
          f"protocols; Morpho ${got['long morpho-blue']:,.0f} of ${got['long value_usd']:,.0f} "
          "long, as recomputed from the chain")


def sample(baseline: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, str]]:
    """PER_MARKET positions of each market, in a fixed order."""
    chosen: list[tuple[str, str]] = []
    for name in sorted({name for name, _ in baseline}):
        chosen += sorted(key for key in baseline if key[0] == name)[:PER_MARKET]
    return chosen


def test_morpho_liquidates_exactly_at_the_served_liquidation_price(
        stack: Stack, baseline: dict[tuple[str, str], dict[str, Any]]) -> None:
    devnet, morpho = stack.devnet, stack.devnet.morpho
    checked, worst_gap = 0, 0.0
    for name, account in sample(baseline):
        market = morpho.market(name)
        levels = baseline[(name, account)]["liquidation_prices"]
        for asset, moves in ((market.spec.collateral, (1 + PRICE_STEP, 1 - PRICE_STEP)),
                             (market.spec.loan, (1 - PRICE_STEP, 1 + PRICE_STEP))):
            level = levels[asset]
            assert level["side"] == ("long" if asset == market.spec.collateral else "short")
            healthy, liquidatable = (level["price"] * move for move in moves)
            snapshot = devnet.snapshot()
            try:
                devnet.set_price(asset, healthy)
                with pytest.raises(LiquidationFailed) as refused:
                    morpho.liquidate(name, account, repaid_shares=1)
                assert refused.value.reason == HEALTHY, f"{name} {account}: {refused.value}"
                devnet.set_price(asset, liquidatable)
                shares = morpho.position(name, account).borrow_shares
                receipt = morpho.liquidate(name, account, repaid_shares=shares // 2)
                assert int(receipt["status"], 16) == 1
                checked += 1
            finally:
                stack.revert(snapshot)
        published = stack.published.get(POSITIONS, morpho_id(devnet, name, account))
        assert published is not None
        generic = position_level(from_snapshot(published), market.spec.collateral,
                                 baseline[(name, account)]["prices"])
        assert generic is not None
        worst_gap = max(worst_gap, relative(generic.price,
                                            levels[market.spec.collateral]["price"]))
    print(f"\nMorpho liquidation boundary: {checked} prices checked at p*(1 ± {PRICE_STEP:g}); "
          f"generic p* within {worst_gap:.3g} of the contract's")


def liquidated(receipt: dict[str, Any]) -> dict[str, Any]:
    """The Liquidate event of a mined liquidation."""
    events = [d for d in (decode_log(e, SPECS) for e in receipt["logs"])
              if d is not None and d.event == "Liquidate"]
    assert len(events) == 1
    return events[0].args


def test_liquidations_are_ingested_and_served_as_the_chain_has_them(
        restored: Stack, baseline: dict[tuple[str, str], dict[str, Any]]) -> None:
    stack, devnet, morpho = restored, restored.devnet, restored.devnet.morpho
    (bad, bad_account), (partial, partial_account) = \
        [key for key in sample(baseline) if key[0] == "WETH/USDC"][:2]
    lowest = min(baseline[key]["liquidation_prices"]["WETH"]["price"]
                 for key in ((bad, bad_account), (partial, partial_account)))
    devnet.set_price("WETH", lowest * 0.75)  # below 0.86·LIF·p*: collateral / LIF < debt
    collateral = morpho.position(bad, bad_account).collateral
    bad_receipt = morpho.liquidate(bad, bad_account, seized=collateral)
    booked = liquidated(bad_receipt)
    assert booked["badDebtAssets"] > 0 and booked["seizedAssets"] == collateral
    assert morpho.position(bad, bad_account)[1:] == (0, 0)  # closed on chain, debt socialised
    shares = morpho.position(partial, partial_account).borrow_shares
    receipt = morpho.liquidate(partial, partial_account, repaid_shares=shares // 3)
    assert liquidated(receipt)["badDebtAssets"] == 0
    stack.outgrow_orphans()

    gone = morpho_id(devnet, bad, bad_account)

    def closed() -> None:
        assert stack.ingester.block() >= devnet.block_number()
        snap = stack.published.get(POSITIONS, gone)
        assert snap is not None and snap["closed"]
        assert snap["version"][0] >= int(bad_receipt["blockNumber"], 16)  # or re-read later
        status, body = stack.worker.get(f"/positions/{gone}/")
        assert status == 404, body
    eventually(closed)
    served = stack.current_position(morpho_id(devnet, partial, partial_account))
    assert served["version"][0] >= int(receipt["blockNumber"], 16), "the Liquidate was missed"
    assert served["debt_usd"] < baseline[(partial, partial_account)]["debt_usd"]
    assert served["liquidatable_now"] is True  # a third repaid at 0.75 p* leaves it unhealthy
    worst = chain_agreement(stack, {(partial, partial_account): served})
    print(f"\nafter liquidation: bad debt {booked['badDebtAssets'] / 1e6:,.2f} USDC booked and "
          f"the position closed; a partial one served with HF {served['health_factor']:.6f}, "
          f"relative error {worst:.3g}")
