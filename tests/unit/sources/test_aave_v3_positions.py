"""Aave V3 snapshots from per-reserve facts: exact amounts, reserve bitmaps, eMode, closing."""

from __future__ import annotations

from monitor.risk.positions import decimal_text
from monitor.sources.aave_v3.market import Reserve
from monitor.sources.aave_v3.positions import ReserveParams, build_snapshot
from monitor.sources.evm.adapter import Read


def test_decimal_strings_are_exact() -> None:
    assert decimal_text(1_500_000_000_000_000_000, 18) == "1.5"
    assert decimal_text(1, 6) == "0.000001"
    assert decimal_text(42_000_000, 6) == "42"
    assert decimal_text(10**18 + 1, 18) == "1.000000000000000001"
    assert decimal_text(0, 8) == "0"


def test_reserve_bitmap_and_snapshot_apply_emode_and_close() -> None:
    bitmap = 7500 | (8000 << 16) | (10500 << 32) | (18 << 48) | (1 << 56) | (1 << 168)
    weth = ReserveParams.from_bitmap(bitmap)
    assert weth == ReserveParams(8000, 10500, 18, 1)
    usdc = ReserveParams(8500, 10400, 6, 0)
    r_weth = Reserve("0x01", "WETH", 0, "0xa1", "0xs1", "0xv1")
    r_usdc = Reserve("0x02", "USDC", 1, "0xa2", "0xs2", "0xv2")
    req = Read("0xABC", 100, "0xh", 1_700_000_000.0, (100, 3))
    legs = [(r_weth, weth, True, 2 * 10**18, 0), (r_usdc, usdc, True, 5 * 10**6, 10**6)]
    snap = build_snapshot(31337, req, legs, user_emode=1, emodes={1: (9300, 10100)})
    assert snap["position_id"] == "aave-v3:31337:0xabc" and snap["account"] == "0xabc"
    assert snap["collateral"] == [
        {"asset": "WETH", "amount": "2", "decimals": 18, "liquidation_threshold": 0.93,
         "liquidation_bonus": 0.01},
        {"asset": "USDC", "amount": "5", "decimals": 6, "liquidation_threshold": 0.85,
         "liquidation_bonus": 0.04}]
    assert snap["debt"] == [{"asset": "USDC", "amount": "1", "decimals": 6}]
    assert snap["version"] == [100, 3] and snap["closed"] is False
    assert "close_factor" not in snap  # the worker applies the protocol's configured one
    no_emode = build_snapshot(31337, req, legs, user_emode=0, emodes={})
    assert no_emode["collateral"][0]["liquidation_threshold"] == 0.8
    disabled = build_snapshot(31337, req, [(r_weth, weth, False, 10**18, 0)], 0, {})
    assert disabled["collateral"] == [] and disabled["debt"] == [] and disabled["closed"] is True
