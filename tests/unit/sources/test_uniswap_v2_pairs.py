"""A pair's getReserves() answer becomes its `depth` record: token order kept, amounts in whole
units of each token's decimals, the v2 fee, and the read's version; the wire parses it back."""

from __future__ import annotations

import orjson
from eth_abi.abi import encode

from monitor.sources.evm.tokens import Token
from monitor.sources.uniswap_v2.pairs import FEE, Pair
from monitor.wire import parse_depth


def test_reserves_become_a_depth_record_the_wire_accepts() -> None:
    pair = Pair("0xpair", Token("0xa", "WETH", 18), Token("0xb", "USDC", 6))
    raw = "0x" + encode(["uint112", "uint112", "uint32"], [5 * 10**18, 15_000 * 10**6, 7]).hex()
    record = pair.reserves(raw, (12, 3), 1.7e9)
    parsed = parse_depth(b"0xpair", orjson.dumps(record))
    assert parsed.assets == ("WETH", "USDC") and parsed.reserves == (5.0, 15_000.0)
    assert parsed.fee == FEE and parsed.version == (12, 3) and parsed.protocol == "uniswap-v2"
    assert parsed.reserve_of("USDC") == 15_000.0
