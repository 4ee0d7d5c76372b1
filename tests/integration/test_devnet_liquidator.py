"""The devnet's liquidator against the real Aave V3 pool: after a price drop it clears every
account below health factor 1, repays within the close factor, touches nobody healthy, and a
refused liquidation (a stale view of an account) is counted, not fatal."""

from __future__ import annotations

import threading
from typing import Any, Final

import pytest

from monitor.devnet.devnet import AccountData, Devnet
from monitor.devnet.liquidator import Liquidator, is_underwater
from monitor.sources.aave_v3.events import SPECS
from monitor.sources.evm.decoder import decode_log, event_spec

pytestmark = pytest.mark.integration

WAD: Final = 10**18
DROP: Final = 0.9  # LINK falls 10 %: about 20 seeded accounts go under, half of them below 0.95
LIQUIDATION_CALL: Final = event_spec(
    "LiquidationCall(address indexed collateralAsset, address indexed debtAsset, "
    "address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, "
    "address liquidator, bool receiveAToken)")


def liquidations(devnet: Devnet, from_block: int) -> list[dict[str, Any]]:
    """The arguments of every LiquidationCall the pool emitted since `from_block`, in order."""
    logs = devnet.rpc.call("eth_getLogs", {"address": devnet.deployment.pool,
                                           "fromBlock": hex(from_block), "toBlock": "latest",
                                           "topics": [LIQUIDATION_CALL.topic0]})
    decoded = [decode_log(entry, SPECS) for entry in logs]
    return [d.args for d in decoded if d is not None]


def drop_prices(devnet: Devnet) -> None:
    """Move LINK down by DROP (a small book, so the test liquidates few accounts)."""
    devnet.set_price("LINK", devnet.price("LINK") * DROP)


def test_sweep_liquidates_every_account_below_one_and_nobody_else(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    drop_prices(devnet)
    start = devnet.block_number() + 1
    before = devnet.account_data()
    under = {a for a, d in before.items() if is_underwater(d)}
    assert len(under) >= 10
    assert any(before[a].health_factor <= 0.95 * WAD for a in under)  # full close factor too
    symbol = {a.address: name for name, a in devnet.deployment.assets.items()}
    debts = {(a, name): devnet.debt_of(a, name) for a in under for name in symbol.values()}

    sweep = Liquidator(devnet).sweep(before)

    after = devnet.account_data()
    events = liquidations(devnet, start)
    users = [e["user"] for e in events]
    assert set(users) <= under, "a healthy account was liquidated"
    for user in {e["user"] for e in events if before[e["user"]].health_factor > 0.95 * WAD}:
        first = next(e for e in events if e["user"] == user)  # above HF 0.95: half at most
        assert first["debtToCover"] <= debts[user, symbol[first["debtAsset"]]] // 2 + 1
    assert sweep.underwater == len(under)
    assert sweep.liquidations == len(users) >= len(under)
    assert sweep.reverts == 0
    assert sweep.repaid_usd > 0
    for account in under:
        state = after[account]
        assert (state.health_factor >= WAD or not state.total_debt_base
                or not state.total_collateral_base), f"{account} still liquidatable: {state}"
    bad = sum(1 for a in under if is_underwater(after[a]))
    assert sweep.bad_debt == bad
    assert Liquidator(devnet).sweep().liquidations == 0  # nothing left to do


def test_a_refused_liquidation_is_counted_and_the_sweep_goes_on(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    drop_prices(devnet)
    data = devnet.account_data()
    healthy = next(a for a, d in data.items() if d.total_debt_base and d.health_factor > WAD)
    stale = {**data, healthy: AccountData(*data[healthy][:5], health_factor=WAD // 2)}

    sweep = Liquidator(devnet).sweep(stale)

    assert sweep.reverts == 1  # the pool refuses: HF not below 1 (error 45)
    assert sweep.liquidations >= sweep.underwater - 1 > 0
    assert devnet.user_account_data(healthy).health_factor > WAD
    assert not [a for a, d in devnet.account_data().items()
                if is_underwater(d) and d.total_collateral_base]


def test_a_stopped_liquidator_leaves_the_chain_alone(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    drop_prices(devnet)
    head = devnet.block_number()
    stop = threading.Event()
    stop.set()

    sweep = Liquidator(devnet, stop).sweep()

    assert sweep.underwater > 0 and sweep.liquidations == 0
    assert devnet.block_number() == head
