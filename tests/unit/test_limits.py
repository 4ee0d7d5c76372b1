"""Input limits (pure): no number that can overflow when valued, no version or id that would
freeze or hide a key, bounded work per position, and dead letters that always fit."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from monitor.config import ConfigError, load_settings
from monitor.limits import DEAD_LETTER_BYTES, DEAD_LETTER_HEAD, ChainHeads, Limits
from monitor.wire import (
    DEFAULT_LIMITS,
    Rejected,
    dead_letter,
    letter_key,
    market_price_key,
    parse_position,
    parse_price,
)


def lending(**changes: Any) -> dict[str, Any]:
    """A valid lending snapshot with some fields changed."""
    return {"position_id": "p:1:0xa", "protocol": "p", "account": "0xa", "kind": "lending",
            "collateral": [{"asset": "WETH", "amount": 1.0, "liquidation_threshold": 0.8}],
            "debt": [{"asset": "USDC", "amount": 1000.0}], "version": [1, 0], **changes}


def reason(snapshot: dict[str, Any] | bytes, limits: Limits = DEFAULT_LIMITS,
           key: bytes = b"p:1:0xa") -> str:
    """The reason a snapshot is rejected with."""
    raw = snapshot if isinstance(snapshot, bytes) else orjson.dumps(snapshot)
    with pytest.raises(Rejected) as caught:
        parse_position(key, raw, None, limits)
    return caught.value.reason


@pytest.mark.parametrize("amount", [1e308, 1e31, "1e400", "1" + "0" * 40],
                         ids=["1e308", "1e31", "decimal-1e400", "decimal-1e40"])
def test_amounts_that_overflow_when_valued_are_rejected(amount: object) -> None:
    legs = [{"asset": "WETH", "amount": amount, "liquidation_threshold": 0.8}]
    assert reason(lending(collateral=legs)) == "invalid-position"


def test_an_integer_beyond_any_float_is_rejected_not_raised() -> None:
    raw = orjson.dumps(lending()).replace(b'"amount":1000.0', b'"amount":' + b"9" * 400)
    assert reason(raw) in ("not-json", "invalid-position")


@pytest.mark.parametrize("field", ["size", "margin", "entry_price"])
def test_perp_numbers_are_bounded(field: str) -> None:
    perp = {"position_id": "p:1:0xa", "protocol": "p", "account": "0xa", "kind": "perp",
            "asset": "WETH", "size": 1.0, "entry_price": 3000.0, "margin": 100.0,
            "maintenance_margin_ratio": 0.05, "version": [1, 0], field: 1e300}
    assert reason(perp) == "invalid-position"


@pytest.mark.parametrize("price", [1e300, 1e19, 1e-300, 0.0])
def test_prices_outside_the_documented_range_are_rejected(price: float) -> None:
    raw = orjson.dumps({"asset": "WETH", "price": price, "version": [1, 0]})
    with pytest.raises(Rejected, match="invalid-price"):
        parse_price(b"WETH", raw)


@pytest.mark.parametrize("version", [[2**64 - 1, 0], [1, 2**64 - 1], [-1, 0]])
def test_versions_beyond_max_version_are_implausible(version: list[int]) -> None:
    assert reason(lending(version=version)) == "implausible-version"
    with pytest.raises(Rejected, match="implausible-version"):
        parse_price(b"WETH", orjson.dumps({"asset": "WETH", "price": 1.0, "version": version}))
    closed = {"position_id": "p:1:0xa", "closed": True, "version": version}
    assert reason(closed) == "implausible-version"


def test_max_version_is_configurable() -> None:
    limits = load_settings(environ={"MONITOR_MAX_VERSION": "1000"}).limits
    assert reason(lending(version=[1001, 0]), limits) == "implausible-version"
    assert parse_position(b"p:1:0xa", orjson.dumps(lending(version=[1000, 0])), None, limits)


def test_a_chain_head_bounds_the_next_block_by_the_margin() -> None:
    heads = ChainHeads(margin=100)
    assert heads.plausible(1, 19_000_000)
    assert heads.plausible(1, 19_000_100)
    assert not heads.plausible(1, 19_000_201)  # beyond 19,000,100 + 100
    assert heads.plausible(1, 18_000_000)  # history is always plausible
    assert heads.plausible(42161, 300_000_000)  # every chain has its own head
    assert heads.heads == {1: 19_000_100, 42161: 300_000_000}


@pytest.mark.parametrize("pid", ["p:1:0xé", "p:1: a", "x" * 257, ""],
                         ids=["non-ascii", "space", "257-chars", "empty"])
def test_ids_that_cannot_be_queried_are_rejected(pid: str) -> None:
    assert reason(lending(position_id=pid), key=pid.encode()) == "invalid-position"
    closed = {"position_id": pid, "closed": True, "version": [1, 0]}
    assert reason(closed, key=pid.encode()) == "invalid-position"


def test_asset_names_admit_market_price_keys_and_nothing_unqueryable() -> None:
    market = market_price_key("morpho-blue", 1, "0x" + "ab" * 32)
    legs = [{"asset": market, "amount": 1.0, "liquidation_threshold": 0.8}]
    assert parse_position(b"p:1:0xa", orjson.dumps(lending(collateral=legs)))
    raw = orjson.dumps({"asset": market, "price": 3000.0, "version": [1, 0]})
    assert parse_price(market.encode(), raw).asset == market
    for bad in ("WETH/USD", "x" * 129, "WÉTH"):
        legs = [{"asset": bad, "amount": 1.0, "liquidation_threshold": 0.8}]
        assert reason(lending(collateral=legs)) == "invalid-position"


def test_legs_and_distinct_assets_per_position_are_limited() -> None:
    limits = Limits(max_legs=4, max_assets=3)
    legs = [{"asset": "WETH", "amount": 1.0, "liquidation_threshold": 0.8}] * 4
    assert reason(lending(collateral=legs), limits) == "over-limit"  # 5 legs
    many = [{"asset": f"A{i}", "amount": 1.0, "liquidation_threshold": 0.8} for i in range(3)]
    assert reason(lending(collateral=many), limits) == "over-limit"  # 4 assets
    assert parse_position(b"p:1:0xa", orjson.dumps(lending(collateral=many[:2])), None, limits)


def test_an_oversized_record_is_dead_lettered_with_its_head_size_and_digest() -> None:
    value, key = b"\xff" * 2**20, b"k" * 5000
    letter = dead_letter(Rejected("oversized-record", "too big"), "positions", 0, 7, key, value)
    assert len(letter) <= DEAD_LETTER_BYTES
    body = orjson.loads(letter)
    assert (body["value_size"], body["value_sha256"], body["value_truncated"]) == (
        2**20, hashlib.sha256(value).hexdigest(), True)
    assert (body["key"], body["key_size"]) == ("k" * DEAD_LETTER_HEAD, 5000)
    assert letter_key(key) == hashlib.sha256(key).hexdigest().encode()
    assert letter_key(b"short") == b"short"


def test_any_dead_letter_fits_even_when_escaping_inflates_it() -> None:
    value = b'"\x01' * 400_000  # every byte escapes to several in JSON
    letter = dead_letter(Rejected("not-json", "x" * 10_000), "prices", 0, 1, b"WETH", value)
    body = orjson.loads(letter)
    assert len(letter) <= DEAD_LETTER_BYTES
    assert body["value_truncated"] and len(body["detail"]) == 1024


def test_a_record_within_the_limit_keeps_every_byte() -> None:
    value = b"{" + b"a" * 60_000
    body = orjson.loads(dead_letter(Rejected("not-json", "x"), "prices", 0, 1, b"k", value))
    assert body["value"] == value.decode() and "value_truncated" not in body
    assert Limits().oversized(b"k", value) is None
    assert Limits().oversized(b"k", value * 2) == 120_003


@pytest.mark.parametrize(("name", "text"), [("MONITOR_MAX_RECORD_BYTES", "0"),
                                            ("MONITOR_MAX_LEGS", "-1"),
                                            ("MONITOR_METRICS_OPEN", "maybe")])
def test_a_limit_that_cannot_be_used_is_a_config_error(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: text})
