"""Hostile input for the fuzz tests: hypothesis strategies of records for every input topic (the
cases issue 10 found plus generated ones: huge and tiny numbers, deep JSON, bad encodings,
oversized values, unknown assets, hostile versions and ids) and of request paths."""

from __future__ import annotations

import json
from typing import Any, Final

from hypothesis import strategies as st

from monitor.limits import Limits
from tests.integration.market import snapshot

LIMITS: Final = Limits()
CANARY: Final = "CANARY"  # the asset only the test's own good records use
Record = tuple[str, bytes | None, bytes | None]  # (topic, key, value)

NUMBERS = st.one_of(
    st.sampled_from([1e308, -1e308, 5e-324, 1e-300, 0.0, -0.0, 1e30, 1e31, 1e18, 1e19, -1.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["1e400", "NaN", "Infinity", "-1", "0x10", "1" + "0" * 40, "", "1.5"]),
)
VERSIONS = st.one_of(
    st.sampled_from([[2**64 - 1, 0], [0, 2**64 - 1], [-1, 0], [2**53, 0], [1], [], "1", None,
                     [1.5, 0], [True, 0]]),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=2, max_size=2),
)
IDS = st.one_of(
    st.sampled_from(["", " ", "p:1:0xé", "x" * 257, "a/b", "a b", "\x00", "..", "%2F"]),
    st.text(max_size=300),
)
ASSETS = st.one_of(
    st.sampled_from(["WETH", "USDC", "WBTC", "DAI", "UNKNOWN", "weth", "X" * 129, "WETH/USD",
                     "morpho-blue:1:0x" + "ab" * 32]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=140),
).filter(lambda name: name != CANARY)


def _json(value: Any) -> bytes:
    """JSON bytes (the standard library writes integers beyond 64 bits, orjson does not)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


@st.composite
def mutated_snapshot(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A market snapshot with hostile fields: (key, value)."""
    value: dict[str, Any] = snapshot(draw(st.integers(0, 39)), draw(st.integers(1, 10**6)))
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.sampled_from(["amount", "version", "id", "asset", "legs", "assets",
                                       "chain", "kind", "threshold"]))
        if choice == "amount":
            value["collateral"][0]["amount"] = draw(NUMBERS)
        elif choice == "version":
            value["version"] = draw(VERSIONS)
        elif choice == "id":
            value["position_id"] = draw(IDS)
        elif choice == "asset":
            value["debt"][0]["asset"] = draw(ASSETS)
        elif choice == "legs":
            leg = value["collateral"][0]
            value["collateral"] = [leg] * draw(st.sampled_from([LIMITS.max_legs, 1000]))
        elif choice == "assets":
            value["collateral"] = [{**value["collateral"][0], "asset": f"UNPRICED{i}"}
                                   for i in range(draw(st.sampled_from(
                                       [LIMITS.max_assets, 1000])))]
        elif choice == "chain":
            value["chain_id"] = 1
            value["version"] = [draw(st.sampled_from([19_000_000, 2**52, 10**15])), 0]
        elif choice == "kind":
            value["kind"] = draw(st.sampled_from(["perp", "option", None, 1]))
        else:
            value["collateral"][0]["liquidation_threshold"] = draw(NUMBERS)
    pid = value.get("position_id")
    key = draw(st.one_of(st.just(str(pid).encode("utf-8", "replace")), st.binary(max_size=8)))
    return key, _json(value)


def _deep(depth: int) -> bytes:
    """Nested arrays `depth` deep."""
    return b"[" * depth + b"]" * depth


RAW = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\xff" * 2**20, b"x" * (LIMITS.max_record_bytes + 1), _deep(100_000),
                     _deep(1000), b"null", b"[]", b"{}", b'{"a":', b"\xef\xbb\xbf{}",
                     "{\"asset\": \"WÉTH\"}".encode("latin-1"), b"NaN"]),
)


@st.composite
def mutated_price(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A price update with hostile fields: (key, value)."""
    asset = draw(ASSETS)
    value: dict[str, Any] = {"asset": asset, "price": draw(NUMBERS), "source": "fuzz",
                             "version": draw(VERSIONS), "timestamp": draw(NUMBERS)}
    key = draw(st.one_of(st.just(asset.encode("utf-8", "replace")), st.binary(max_size=8)))
    return key, _json(value)


@st.composite
def mutated_alert(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """An alert state change with hostile fields: (key, value)."""
    fingerprint = draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=16))
    value = {"fingerprint": fingerprint, "rule": draw(st.sampled_from(["oracle-jump", "x", ""])),
             "status": draw(st.sampled_from(["firing", "resolved", "pending", "bogus"])),
             "sequence": draw(st.one_of(st.integers(-1, 3), st.just(2**64))),
             "labels": draw(st.one_of(st.just({"alertname": "fuzz"}), st.just({"a": 1}))),
             "subject": draw(ASSETS), "value": draw(NUMBERS), "threshold": draw(NUMBERS),
             "starts_at": 1.0, "at": draw(NUMBERS)}
    return fingerprint.encode(), _json(value)


def records(topic: str, structured: st.SearchStrategy[tuple[bytes, bytes]]
            ) -> st.SearchStrategy[Record]:
    """Hostile records of one topic: structured ones, raw bytes, or no value at all."""
    keyed_raw = st.tuples(st.one_of(st.none(), st.binary(max_size=300)), RAW)
    return st.one_of(structured, keyed_raw, st.tuples(st.binary(max_size=8), st.none())).map(
        lambda kv: (topic, kv[0], kv[1]))


def any_records(internal: dict[str, str]) -> st.SearchStrategy[Record]:
    """Hostile records of every input topic; `internal` maps the internal topics' names."""
    garbage = st.one_of(RAW, st.just(b"[{}]"), st.just(b'[{"position_id": "x"}]'))
    inner = st.one_of(*(st.tuples(st.just(name), st.binary(max_size=8), garbage)
                        for name in internal.values()))
    return st.one_of(records("positions", mutated_snapshot()),
                     records("prices", mutated_price()),
                     records("alerts", mutated_alert()), inner)


SEGMENTS = st.one_of(IDS, ASSETS, st.sampled_from(["%ff", "%00", "%", "..%2F..", "WETH"]))
ENDPOINTS = ("/positions/{}/", "/clusters/{}/", "/cascades/{}/", "/alerts/{}/", "/map/{}",
             "/map/{}/", "/clusters/WETH/?side={}", "/alerts/?status={}", "/clusters/?{}",
             "/health/?{}", "/metrics?{}", "/stress/?{}", "/contagion/step/{}/")
PATHS = st.tuples(st.sampled_from(ENDPOINTS), SEGMENTS)
