"""Morpho Blue snapshots and prices from what the chain answers: interest accrued as the
contract accrues it, borrow shares rounded up into assets, LLTV and LIF on the collateral leg,
no close factor, the market price key; and the market price record."""

from __future__ import annotations

import orjson

from monitor.risk import from_snapshot, health_factor
from monitor.risk.morpho_blue import WAD, w_taylor_compounded
from monitor.sources.evm.adapter import Read
from monitor.sources.evm.tokens import Token
from monitor.sources.morpho_blue.markets import Market, MarketParams
from monitor.sources.morpho_blue.positions import MarketState, build_snapshot, position_key
from monitor.sources.morpho_blue.prices import price_update
from monitor.wire import parse_position, parse_price

MARKET_ID = "0x" + "ab" * 32
MARKET = Market(MARKET_ID, MarketParams("0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20,
                                        "0x" + "04" * 20, 86 * 10**16),
                Token("0x" + "01" * 20, "USDC", 6), Token("0x" + "02" * 20, "WETH", 18))
READ = Read(position_key(MARKET_ID, "0xABCD"), 100, "0xh", 1_700_000_000.0, (100, 3))


def test_interest_accrues_to_the_block_as_the_contract_would() -> None:
    state = MarketState(10**12, 10**18, 6 * 10**11, 6 * 10**17, 1_699_999_000, 0)
    rate = 10**18 // (365 * 86_400) // 2  # utilisation 60 %: about 50 % a year
    accrued = state.accrued(rate, 1_700_000_000)
    interest = 6 * 10**11 * w_taylor_compounded(rate, 1_000) // WAD
    assert accrued.total_borrow_assets == 6 * 10**11 + interest
    assert accrued.total_supply_assets == 10**12 + interest
    assert accrued.last_update == 1_700_000_000
    assert state.accrued(rate, 1_699_999_000) is state  # nothing has elapsed
    shares = 10**17
    # shares → assets rounded up, virtual shares and assets included
    assert accrued.borrowed(shares) == -(-shares * (accrued.total_borrow_assets + 1)
                                         // (6 * 10**17 + 10**6))
    assert not state.accrues("0x" + "00" * 20, 1_700_000_000)
    assert state.accrues(MARKET.params.irm, 1_700_000_000)


def test_snapshot_carries_lltv_lif_exact_amounts_and_no_close_factor() -> None:
    snap = build_snapshot(31337, READ, MARKET, 2 * 10**18, 10**9, 4_000_123_456)
    assert snap["position_id"] == f"morpho-blue:31337:{MARKET_ID}:0xabcd"
    assert snap["account"] == "0xabcd" and snap["protocol"] == "morpho-blue"
    assert snap["collateral"] == [{"asset": "WETH", "amount": "2", "decimals": 18,
                                   "liquidation_threshold": 0.86,
                                   "liquidation_bonus": 1_043_841_336_116_910_229 / WAD - 1}]
    assert snap["debt"] == [{"asset": "USDC", "amount": "4000.123456", "decimals": 6}]
    assert snap["close_factor"] == 1.0  # Morpho has none: a liquidator may repay it all
    assert snap["market_price"] == f"morpho-blue:31337:{MARKET_ID}"
    assert snap["version"] == [100, 3] and snap["closed"] is False
    position = parse_position(snap["position_id"].encode(), orjson.dumps(snap), {
        "morpho-blue": 0.5})
    assert position == from_snapshot(snap)  # its own close factor wins over the configured one
    prices = {snap["market_price"]: 3000.0, "WETH": 3000.0, "USDC": 1.0}
    assert health_factor(from_snapshot(snap), prices) == 5_160_000_000 / 4_000_123_456


def test_a_position_without_collateral_or_shares_is_closed() -> None:
    only_collateral = build_snapshot(31337, READ, MARKET, 10**18, 0, 0)
    assert only_collateral["debt"] == [] and only_collateral["closed"] is False
    gone = build_snapshot(31337, READ, MARKET, 0, 0, 0)
    assert gone["collateral"] == gone["debt"] == [] and gone["closed"] is True


def test_price_update_quotes_the_oracle_in_loan_units_per_collateral_unit() -> None:
    update = price_update(31337, MARKET, 2_999_5 * 10**23, (7, 2**31 - 1), 1.0)
    assert update["asset"] == f"morpho-blue:31337:{MARKET_ID}" and update["price"] == 2999.5
    assert update["source"] == f"morpho-oracle:{MARKET.params.oracle}"
    parsed = parse_price(update["asset"].encode(), orjson.dumps(update))
    assert parsed.price == 2999.5
