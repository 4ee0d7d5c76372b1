"""The fast decoder on Morpho Blue's events (bytes32 market ids, the MarketParams tuple) against
web3's own decoder of the compiled EventsLib ABI, and which position each event touches."""

from __future__ import annotations

from typing import Any

import pytest
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from monitor.devnet.morpho_deploy import morpho_artifacts
from monitor.sources.evm.decoder import decode_log, event_spec
from monitor.sources.morpho_blue.events import EVENTS, ROUTED, SPECS, touched_position
from tests.unit.sources.abi_logs import canonical_type, encoded_log, web3_args

W3 = Web3()
ABI = morpho_artifacts()["EventsLib"].abi
CONTRACT = W3.eth.contract(abi=ABI)
ENTRIES = {e["name"]: e for e in ABI if e["type"] == "event"}


def _value(inp: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Hypothesis values for one ABI input."""
    kind = inp["type"]
    if kind == "tuple":
        return st.tuples(*(_value(c) for c in inp["components"]))
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: Web3.to_checksum_address(b))
    if kind == "bytes32":
        return st.binary(min_size=32, max_size=32)
    if kind == "bool":
        return st.booleans()
    return st.integers(0, 2 ** int(kind.removeprefix("uint") or 256) - 1)


def _flat(args: dict[str, Any]) -> dict[str, Any]:
    """web3's args with tuples flattened into their members, hex lowercased."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, dict):
            out.update(_flat(dict(value)))
        elif isinstance(value, bytes | HexBytes):
            out[key] = "0x" + bytes(value).hex()
        else:
            out[key] = value.lower() if isinstance(value, str) else value
    return out


@pytest.mark.parametrize("spec", EVENTS, ids=lambda s: s.name)
def test_fast_decoder_matches_web3_on_encoded_logs(spec: Any) -> None:
    entry = ENTRIES[spec.name]
    types = ",".join(canonical_type(i) for i in entry["inputs"])
    assert spec.signature == f"{entry['name']}({types})"

    @settings(max_examples=30, deadline=None)
    @given(st.tuples(*(_value(i) for i in entry["inputs"])))
    def check(values: tuple[Any, ...]) -> None:
        """One random instance of the event."""
        raw = encoded_log(entry, list(values))
        decoded = decode_log(raw, SPECS)
        assert decoded is not None and decoded.event == spec.name
        assert decoded.args == _flat(web3_args(CONTRACT, spec.name, raw))

    check()


def test_position_events_touch_the_market_and_account_they_name() -> None:
    market, account, other = b"\x0c" * 32, "0x" + "01" * 20, "0x" + "02" * 20
    cases = {"Borrow": [market, other, account, other, 5, 6],
             "Repay": [market, other, account, 5, 6],
             "SupplyCollateral": [market, other, account, 5],
             "WithdrawCollateral": [market, other, account, other, 5],
             "Liquidate": [market, other, account, 1, 2, 3, 4, 5]}
    for name, values in cases.items():
        decoded = decode_log(encoded_log(ENTRIES[name], values), SPECS)
        assert decoded is not None and touched_position(decoded) == ("0x" + "0c" * 32, account)
        assert decoded.args["id"] in (touched_position(decoded) or ("",))
    supply = decode_log(encoded_log(ENTRIES["Supply"], [market, other, account, 5, 6]), SPECS)
    assert supply is not None and touched_position(supply) is None  # supply is never collateral
    assert {s.name for s in ROUTED.values()} == {*cases, "CreateMarket"}


def test_a_tuple_parameter_needs_static_members() -> None:
    spec = event_spec("E(bytes32 indexed id, (address a, uint256 b) pair, uint8 c)")
    assert spec.signature == "E(bytes32,(address,uint256),uint8)" and spec.data_words == 3
    with pytest.raises(ValueError, match="tuple member"):
        event_spec("E((string s, uint256 b) pair)")
