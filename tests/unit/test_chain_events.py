"""Fast event decoding against web3's own decoder, adaptive log ranges, checkpoints, snapshots."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from monitor.chain.checkpoint import (
    Checkpoint,
    CheckpointError,
    RecentBlock,
    load_checkpoint,
    save_checkpoint,
)
from monitor.chain.events import ALL_EVENTS, LogDecodeError, affected_accounts, decode_log
from monitor.chain.logs import LogFilter, RangeSizer, fetch_logs, is_range_error, suggested_span
from monitor.chain.positions_reader import (
    ReadRequest,
    ReserveParams,
    build_snapshot,
    decimal_string,
)
from monitor.chain.reserves import Reserve
from monitor.chain.rpc import Backoff, Rpc, RpcError

ARTIFACTS = Path(__file__).resolve().parents[2] / "node_modules/@aave/core-v3/artifacts/contracts"
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


def _encoded_log(entry: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """A raw JSON-RPC log of `entry` with `values`, encoded with eth_abi per the ABI."""
    signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
    topics = ["0x" + Web3.keccak(text=signature).hex().removeprefix("0x")]
    data_types, data_values = [], []
    for inp, value in zip(entry["inputs"], values, strict=True):
        if inp["indexed"]:
            topics.append("0x" + encode([inp["type"]], [value]).hex())
        else:
            data_types.append(inp["type"])
            data_values.append(value)
    return {"address": "0x" + "ab" * 20, "topics": topics,
            "data": "0x" + encode(data_types, data_values).hex(), "blockNumber": "0x1b4",
            "logIndex": "0x7", "blockHash": "0x" + "11" * 32, "transactionHash": "0x" + "22" * 32,
            "transactionIndex": "0x0", "removed": False}


def _web3_args(contract: Any, name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """web3's own decoding of a raw log (the slow path this module replaces)."""
    formatted = {
        "address": Web3.to_checksum_address(raw["address"]),
        "topics": [bytes.fromhex(t[2:]) for t in raw["topics"]],
        "data": bytes.fromhex(raw["data"][2:]), "blockNumber": int(raw["blockNumber"], 16),
        "logIndex": int(raw["logIndex"], 16), "blockHash": bytes.fromhex(raw["blockHash"][2:]),
        "transactionHash": bytes.fromhex(raw["transactionHash"][2:]), "transactionIndex": 0}
    return dict(contract.events[name]().process_log(formatted)["args"])


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
        raw = _encoded_log(entry, list(values))
        decoded = decode_log(raw)
        assert decoded is not None
        assert (decoded.event, decoded.block, decoded.log_index) == (spec.name, 436, 7)
        expected = _web3_args(contract, spec.name, raw)
        dynamic = {i["name"] for i in entry["inputs"] if i["type"] == "string"}
        assert decoded.args == {k: _normal(v) for k, v in expected.items() if k not in dynamic}

    check()


def test_unknown_topic_is_ignored_and_a_truncated_log_is_rejected() -> None:
    _, entry = EVENTS["Supply"]
    raw = _encoded_log(entry, ["0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20, 5, 0])
    assert decode_log({**raw, "topics": ["0x" + "00" * 32]}) is None
    assert decode_log({**raw, "topics": []}) is None
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "data": raw["data"][:40]})
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "topics": raw["topics"][:2]})
    with pytest.raises(LogDecodeError):
        decode_log({**raw, "blockNumber": None})


def test_affected_accounts_follow_the_event_semantics() -> None:
    user, other, liquidator = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
    reserve = "0x" + "0a" * 20
    _, supply = EVENTS["Supply"]
    decoded = decode_log(_encoded_log(supply, [reserve, user, other, 5, 0]))
    assert decoded is not None and affected_accounts(decoded) == (other,)
    _, liq = EVENTS["LiquidationCall"]
    for receive, expected in ((False, (user,)), (True, (user, liquidator))):
        decoded = decode_log(_encoded_log(liq, [reserve, reserve, user, 1, 2, liquidator,
                                                receive]))
        assert decoded is not None and affected_accounts(decoded) == expected
    _, transfer = EVENTS["BalanceTransfer"]
    decoded = decode_log(_encoded_log(transfer, [user, other, 1, 1]))
    assert decoded is not None and affected_accounts(decoded) == (user, other)
    _, answer = EVENTS["AnswerUpdated"]
    decoded = decode_log(_encoded_log(answer, [-5, 1, 2]))
    assert decoded is not None and affected_accounts(decoded) == ()
    assert decoded.args["current"] == -5


def test_range_sizer_shrinks_to_suggestions_and_grows_back() -> None:
    sizer = RangeSizer(span=1000, minimum=1, maximum=4000, grow_after=2)
    assert sizer.shrink() and sizer.span == 500
    assert sizer.shrink(120) and sizer.span == 120
    assert sizer.shrink(5000) and sizer.span == 60  # a suggestion larger than now: halve
    sizer.success(30)  # a short (end of chain) range says nothing about the limit
    sizer.success(60)
    assert sizer.span == 60
    sizer.success(60)
    assert sizer.span == 120
    tiny = RangeSizer(span=1, minimum=1)
    assert not tiny.shrink()


@pytest.mark.parametrize(("message", "is_range", "span"), [
    ("query returned more than 10000 results. Try with this block range [0x10, 0x2F].", True,
     32),
    ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
     True, None),
    ("block range is too wide", True, None),
    ("exceed maximum block range: 5000", True, None),
    ("execution reverted", False, None),
])
def test_range_errors_are_recognised(message: str, is_range: bool, span: int | None) -> None:
    exc = RpcError(-32005, message)
    assert is_range_error(exc) is is_range
    assert suggested_span(exc) == span


class _LimitedNode(Rpc):
    """A node refusing eth_getLogs over more than `limit` blocks (only `call` is replaced)."""

    def __init__(self, limit: int) -> None:
        super().__init__("http://127.0.0.1:1", backoff=Backoff(base=0.0))
        self.limit = limit
        self.spans: list[int] = []

    async def call(self, method: str, params: Any) -> Any:
        """eth_getLogs with a block-range limit."""
        start, end = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.spans.append(end - start + 1)
        if end - start + 1 > self.limit:
            raise RpcError(-32005, "query returned more than 10000 results")
        return [{"blockNumber": hex(start)}]


def test_fetch_logs_shrinks_until_the_node_accepts_then_grows() -> None:
    node = _LimitedNode(limit=300)
    sizer = RangeSizer(span=2000, maximum=2000, grow_after=1)
    flt = LogFilter(("0x" + "01" * 20,), ("0x" + "02" * 32,))
    end, logs = asyncio.run(fetch_logs(node, flt, 100, 10_000, sizer))
    assert node.spans == [2000, 1000, 500, 250]
    assert (end, logs) == (349, [{"blockNumber": hex(100)}])
    assert sizer.span == 500  # grew back after a success; the next call shrinks again
    with pytest.raises(RpcError):
        asyncio.run(fetch_logs(_LimitedNode(limit=0), flt, 1, 5, RangeSizer(span=4)))


def test_backoff_retries_rate_limits_and_not_other_errors() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        """Rate-limited twice, then answers."""
        calls.append(1)
        if len(calls) < 3:
            raise RpcError(429, "Too Many Requests")
        return "ok"

    assert asyncio.run(Backoff(base=0.0).run(flaky, "x")) == "ok" and len(calls) == 3

    async def reverted() -> str:
        """A permanent error."""
        calls.append(1)
        raise RpcError(3, "execution reverted")

    calls.clear()
    with pytest.raises(RpcError):
        asyncio.run(Backoff(base=0.0).run(reverted, "x"))
    assert len(calls) == 1
    delays = [Backoff(base=1.0, cap=4.0).delay(n) for n in range(6)]
    assert all(0.0 <= d <= min(4.0, 2 ** n) for n, d in enumerate(delays))


def test_checkpoint_round_trip_window_and_rewind(tmp_path: Path) -> None:
    path = tmp_path / "cp" / "ingest.json"
    cp = Checkpoint(31337, "0xpool", 10)
    cp.record([RecentBlock(n, f"0x{n:064x}", [f"0xa{n}"], []) for n in range(5, 11)], window=4)
    assert [b.number for b in cp.recent] == [7, 8, 9, 10]
    assert cp.hash == f"0x{10:064x}"
    cp.pending_accounts["0xa1"] = 9
    save_checkpoint(path, cp)
    save_checkpoint(path, cp)
    assert [p.name for p in path.parent.iterdir()] == ["ingest.json"]  # no temp files left
    loaded = load_checkpoint(path, 31337, "0xPOOL")
    assert loaded == cp
    dropped = loaded.rewind(8)
    assert [b.number for b in dropped] == [9, 10] and loaded.block == 8
    assert loaded.hash == f"0x{8:064x}"
    assert load_checkpoint(tmp_path / "absent.json", 1, "0xpool") is None
    with pytest.raises(CheckpointError, match="chain 31337"):
        load_checkpoint(path, 1, "0xpool")
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(path, 31337, "0xpool")


def test_decimal_strings_are_exact() -> None:
    assert decimal_string(1_500_000_000_000_000_000, 18) == "1.5"
    assert decimal_string(1, 6) == "0.000001"
    assert decimal_string(42_000_000, 6) == "42"
    assert decimal_string(10**18 + 1, 18) == "1.000000000000000001"
    assert decimal_string(0, 8) == "0"


def test_reserve_bitmap_and_snapshot_apply_emode_and_close() -> None:
    bitmap = 7500 | (8000 << 16) | (10500 << 32) | (18 << 48) | (1 << 56) | (1 << 168)
    weth = ReserveParams.from_bitmap(bitmap)
    assert weth == ReserveParams(8000, 10500, 18, 1)
    usdc = ReserveParams(8500, 10400, 6, 0)
    r_weth = Reserve("0x01", "WETH", 0, "0xa1", "0xs1", "0xv1")
    r_usdc = Reserve("0x02", "USDC", 1, "0xa2", "0xs2", "0xv2")
    req = ReadRequest("0xABC", 100, "0xh", 1_700_000_000.0, (100, 3))
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
    no_emode = build_snapshot(31337, req, legs, user_emode=0, emodes={})
    assert no_emode["collateral"][0]["liquidation_threshold"] == 0.8
    disabled = build_snapshot(31337, req, [(r_weth, weth, False, 10**18, 0)], 0, {})
    assert disabled["collateral"] == [] and disabled["debt"] == [] and disabled["closed"] is True
