"""The devnet's Morpho Blue against its own contracts: deployed beside Aave V3 on the same tokens,
markets at the configured LLTVs, oracles that follow Aave's aggregators in the same block,
seeded positions healthy but near 1 (some held by Aave's own accounts), and a liquidator that
clears every unhealthy position in full, booking bad debt where the collateral falls short."""

from __future__ import annotations

from typing import Final

import pytest

from monitor.devnet.devnet import Devnet
from monitor.devnet.morpho_deploy import MARKETS
from monitor.devnet.morpho_liquidator import MorphoLiquidator
from monitor.risk.morpho_blue import WAD, quoted_price
from monitor.sources.evm.decoder import decode_log
from monitor.sources.morpho_blue.events import SPECS

pytestmark = pytest.mark.integration

DROP: Final = 0.8  # WETH falls 20 %: every WETH/USDC position below HF 1.25 goes under


def test_markets_are_deployed_as_configured_on_aaves_tokens(devnet: Devnet) -> None:
    m = devnet.manifest["morpho_blue"]
    assert set(m["markets"]) == {spec.name for spec in MARKETS}
    morpho = devnet.morpho
    art = morpho.art["Morpho"]
    for spec in MARKETS:
        market = m["markets"][spec.name]
        params = morpho.market(spec.name).params
        stored = art.decode_output("idToMarketParams", devnet.rpc.eth_call(
            m["address"], art.call_data("idToMarketParams", bytes.fromhex(market["id"][2:]))), 1)
        assert tuple(str(v).lower() if isinstance(v, str) else v for v in stored) == \
            params.words()  # the contract's own id of our params
        assert params.collateral_token == devnet.manifest["assets"][spec.collateral]["address"]
        assert params.loan_token == devnet.manifest["assets"][spec.loan]["address"]
        assert params.lltv == round(spec.lltv * WAD) == round(market["lltv"] * WAD)
        assert morpho.state(spec.name).total_borrow_shares > 0
    assert {spec.lltv for spec in MARKETS} == {0.86, 0.77}


def test_oracles_quote_the_aggregators_and_move_with_them_in_one_block(
        clean_devnet: Devnet) -> None:
    devnet, morpho = clean_devnet, clean_devnet.morpho
    decimals = {n: a.decimals for n, a in devnet.deployment.assets.items()}
    head = devnet.block_number()
    receipt = devnet.set_price("USDC", 0.999)
    assert receipt["blockNumber"] == head + 1 == devnet.block_number()
    answers = devnet.answers()
    assert answers["USDC"] == 99_900_000
    for spec in MARKETS:  # floor(answer_c × 10^(36 + d_l − d_c) / answer_l), as Chainlink oracles
        scale = 10 ** (36 + decimals[spec.loan] - decimals[spec.collateral])
        assert morpho.price(spec.name) == answers[spec.collateral] * scale // 99_900_000
        assert morpho.price(spec.name, head) == answers[spec.collateral] * scale // 10**8
        assert quoted_price(morpho.price(spec.name, head), decimals[spec.collateral],
                            decimals[spec.loan]) == devnet.price(spec.collateral, head)


def test_seeded_positions_are_healthy_near_one_and_some_share_aave_accounts(
        devnet: Devnet) -> None:
    morpho = devnet.morpho
    positions = morpho.positions
    assert len(positions) == len(set(positions)) == round(len(devnet.accounts) / 4)
    factors = sorted(h.max_borrow / h.borrowed for h in (morpho.health(*p) for p in positions))
    assert factors[0] > 1.0 and factors[-1] < 2.01
    assert factors[len(factors) // 2] < 1.3
    accounts = [a for _, a in positions]
    assert 0 < len(set(accounts) & set(devnet.accounts)) < len(set(accounts))
    assert any(accounts.count(a) == 2 for a in accounts)  # one position per market each
    both = next(a for a in accounts if a in set(devnet.accounts))
    assert devnet.user_account_data(both).total_debt_base > 0


def test_liquidator_clears_every_unhealthy_position_in_full(clean_devnet: Devnet) -> None:
    devnet, morpho = clean_devnet, clean_devnet.morpho
    devnet.set_price("WETH", devnet.price("WETH") * DROP)
    liquidator = MorphoLiquidator(devnet)
    under = liquidator.underwater()
    assert len(under) >= 5 and {name for name, _ in under} == {"WETH/USDC"}
    start = devnet.block_number()

    sweep = liquidator.sweep()

    assert sweep.underwater == sweep.liquidations == len(under) and sweep.reverts == 0
    assert sweep.repaid_usd > 0
    for name, account in under:  # repaid in full, or all the collateral taken (bad debt)
        held = morpho.position(name, account)
        assert held.borrow_shares == 0 or held.collateral == 0
    assert sweep.bad_debt == sum(1 for p in under if morpho.position(*p).collateral == 0)
    assert sweep.bad_debt > 0  # a 20 % drop puts the positions opened at HF < 1.12 under water
    logs = devnet.rpc.call("eth_getLogs", {"address": morpho.deployment.address,
                                           "fromBlock": hex(start + 1), "toBlock": "latest"})
    events = [d for d in (decode_log(e, SPECS) for e in logs) if d and d.event == "Liquidate"]
    assert sorted((d.args["id"], d.args["borrower"]) for d in events) == \
        sorted((morpho.market(name).id, account) for name, account in under)
    assert liquidator.underwater() == [] and liquidator.sweep().liquidations == 0
