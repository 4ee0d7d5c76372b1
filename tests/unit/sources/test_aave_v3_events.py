"""The fast decoder on Aave V3's events against web3's own decoder, and who each event touches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from monitor.sources.aave_v3.events import ALL_EVENTS, SPECS, affected_accounts
from monitor.sources.evm.decoder import LogDecodeError, decode_log
from tests.unit.sources.abi_logs import encoded_log, web3_args

ARTIFACTS = Path(__file__).resolve().parents[3] / "node_modules/@aave/core-v3/artifacts/contracts"
ABI_FILES = ("interfaces/IPool.sol/IPool.json", "interfaces/IAToken.sol/IAToken.json",
             "interfaces/IPoolConfigurator.sol/IPoolConfigurator.json",
             "misc/AaveOracle.sol/AaveOracle.json",
             "dependencies/chainlink/AggregatorInterface.sol/AggregatorInterface.json")
W3 = Web3()


def _abi_events() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every event we decode, as (web3 contract of its real ABI, ABI entry)."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for rel in ABI_FILES:
        abi = json.loads((ARTIFACTS / rel).read_text())["abi"]
        contract = W3.eth.contract(abi=abi)
        for entry in abi:
            if entry["type"] == "event":
                found.setdefault(entry["name"], (contract, entry))
    return found


EVENTS = _abi_events()


def _value(abi_type: str) -> st.SearchStrategy[Any]:
    """Hypothesis values for one ABI type."""
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: Web3.to_checksum_address(b))
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "string":
        return st.text(max_size=20)
    bits = int(abi_type.lstrip("uint") or 256)
    if abi_type.startswith("int"):
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.integers(0, 2 ** bits - 1)


def _normal(value: Any) -> Any:
    """Addresses compare case-insensitively."""
    return value.lower() if isinstance(value, str) and value.startswith("0x") else value


@pytest.mark.parametrize("spec", ALL_EVENTS, ids=lambda s: s.name)
def test_fast_decoder_matches_web3_on_encoded_logs(spec: Any) -> None:
    contract, entry = EVENTS[spec.name]
    assert spec.signature == f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"

    @settings(max_examples=40, deadline=None)
    @given(st.tuples(*(_value(i["type"]) for i in entry["inputs"])))
    def check(values: tuple[Any, ...]) -> None:
        """One random instance of the event."""
        raw = encoded_log(entry, list(values))
        decoded = decode_log(raw, SPECS)
        assert decoded is not None
        assert (decoded.event, decoded.block, decoded.log_index) == (spec.name, 436, 7)
        expected = web3_args(contract, spec.name, raw)
        dynamic = {i["name"] for i in entry["inputs"] if i["type"] == "string"}
        assert decoded.args == {k: _normal(v) for k, v in expected.items() if k not in dynamic}

    check()


def test_unknown_topic_is_ignored_and_a_truncated_log_is_rejected() -> None:
    _, entry = EVENTS["Supply"]
    raw = encoded_log(entry, ["0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20, 5, 0])
    assert decode_log({**raw, "topics": ["0x" + "00" * 32]}, SPECS) is None
    assert decode_log({**raw, "topics": []}, SPECS) is None
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "data": raw["data"][:40]}, SPECS)
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "topics": raw["topics"][:2]}, SPECS)
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "blockNumber": None}, SPECS)


def test_affected_accounts_follow_the_event_semantics() -> None:
    user, other, liquidator = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
    reserve = "0x" + "0a" * 20
    _, supply = EVENTS["Supply"]
    decoded = decode_log(encoded_log(supply, [reserve, user, other, 5, 0]), SPECS)
    assert decoded is not None and affected_accounts(decoded) == (other,)
    _, liq = EVENTS["LiquidationCall"]
    for receive, expected in ((False, (user,)), (True, (user, liquidator))):
        decoded = decode_log(encoded_log(liq, [reserve, reserve, user, 1, 2, liquidator,
                                                receive]), SPECS)
        assert decoded is not None and affected_accounts(decoded) == expected
    _, transfer = EVENTS["BalanceTransfer"]
    decoded = decode_log(encoded_log(transfer, [user, other, 1, 1]), SPECS)
    assert decoded is not None and affected_accounts(decoded) == (user, other)
    _, answer = EVENTS["AnswerUpdated"]
    decoded = decode_log(encoded_log(answer, [-5, 1, 2]), SPECS)
    assert decoded is not None and affected_accounts(decoded) == ()
    assert decoded.args["current"] == -5
