"""Input validation and the dead-letter record (pure functions, no Faust)."""

from __future__ import annotations

import orjson
import pytest

from monitor.risk import to_snapshot
from monitor.wire import (
    AlertRecord,
    Closed,
    MarketPriceKey,
    Rejected,
    dead_letter,
    market_price_key,
    parse_alert,
    parse_depth,
    parse_market_price_key,
    parse_position,
    parse_price,
)


def test_closed_snapshot_needs_only_id_and_version() -> None:
    raw = orjson.dumps({"position_id": "p", "closed": True, "version": [7, 1]})
    assert parse_position(b"p", raw) == Closed("p", (7, 1))


@pytest.mark.parametrize(("value", "reason"), [
    ({"asset": "WETH", "price": 0, "version": [1, 0]}, "invalid-price"),
    ({"asset": "WETH", "price": True, "version": [1, 0]}, "invalid-price"),
    ({"asset": "WETH", "price": 1.0, "version": [1]}, "invalid-version"),
    ({"asset": "WETH", "price": 1.0, "version": [1, 0], "timestamp": "now"}, "invalid-price"),
    ({"asset": "WBTC", "price": 1.0, "version": [1, 0]}, "key-mismatch"),
    ({"price": 1.0, "version": [1, 0]}, "invalid-price"),
])
def test_bad_prices_are_rejected_with_a_reason(value: dict[str, object], reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_price(b"WETH", orjson.dumps(value))
    assert caught.value.reason == reason


def test_dead_letter_keeps_the_original_bytes() -> None:
    letter = orjson.loads(dead_letter(Rejected("not-json", "bad"), "positions", 2, 41,
                                      b"\xff", b'{"a": 1'))
    assert letter == {"reason": "not-json", "detail": "bad", "topic": "positions",
                      "partition": 2, "offset": 41, "key": "/w==", "key_encoding": "base64",
                      "value": '{"a": 1', "value_encoding": "utf-8"}


def _lending(**extra: object) -> bytes:
    """A minimal valid lending snapshot of protocol "p"."""
    return orjson.dumps({
        "position_id": "p:1:0xa", "protocol": "p", "account": "0xa", "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 1.0, "liquidation_threshold": 0.8}],
        "debt": [{"asset": "USDC", "amount": 1000.0}], "version": [1, 0], **extra})


def test_protocol_close_factor_fills_a_snapshot_that_has_none() -> None:
    parsed = parse_position(b"p:1:0xa", _lending(), {"p": 0.5})
    assert not isinstance(parsed, Closed) and parsed.kind == "lending"
    assert parsed.close_factor == 0.5
    own = parse_position(b"p:1:0xa", _lending(close_factor=0.25), {"p": 0.5})
    assert not isinstance(own, Closed) and own.kind == "lending" and own.close_factor == 0.25
    other = parse_position(b"p:1:0xa", _lending(), {"q": 0.5})
    assert not isinstance(other, Closed) and other.kind == "lending" and other.close_factor == 1.0


ALERT = AlertRecord(
    fingerprint="0123456789abcdef", rule="cascade-proximity", status="firing", sequence=2,
    labels={"alertname": "cascade-proximity", "asset": "WETH", "side": "down",
            "severity": "critical"},
    annotations={"summary": "WETH is 1 % from its down cascade trigger"}, subject="WETH",
    value=0.01, threshold=0.05, starts_at=1.7e9, ends_at=None, at=1.7e9 + 1, repeats=0)


def test_alert_record_round_trips_through_its_wire_bytes() -> None:
    assert parse_alert(b"0123456789abcdef", ALERT.to_bytes()) == ALERT


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": "burning"}, "invalid-alert"),
    ({"sequence": 0}, "invalid-alert"),
    ({"sequence": True}, "invalid-alert"),
    ({"labels": {"asset": 1}}, "invalid-alert"),
    ({"value": "high"}, "invalid-alert"),
    ({"threshold": None}, "invalid-alert"),
    ({"subject": ""}, "invalid-alert"),
    ({"fingerprint": "other"}, "key-mismatch"),
])
def test_bad_alert_records_are_rejected_with_a_reason(change: dict[str, object],
                                                      reason: str) -> None:
    raw = orjson.dumps({**ALERT.to_dict(), **change})
    with pytest.raises(Rejected) as caught:
        parse_alert(b"0123456789abcdef", raw)
    assert caught.value.reason == reason


def test_a_market_price_key_names_protocol_chain_and_market() -> None:
    key = market_price_key("morpho-blue", 1, "0xAB" + "cd" * 31)
    assert key == "morpho-blue:1:0xab" + "cd" * 31
    assert parse_market_price_key(key) == MarketPriceKey("morpho-blue", 1, "0xab" + "cd" * 31)
    for other in ("WETH", "morpho-blue:x:0xab", "morpho-blue:1:", "a:1:b:c", ":1:b"):
        assert parse_market_price_key(other) is None
    update = parse_price(key.encode(), orjson.dumps({"asset": key, "price": 2999.5,
                                                     "version": [1, 0]}))
    assert update.asset == key and update.price == 2999.5  # loan units per collateral unit


def test_a_lending_snapshot_may_name_its_market_price() -> None:
    parsed = parse_position(b"p:1:0xa", _lending(market_price="m:1:0xm"))
    assert not isinstance(parsed, Closed) and parsed.kind == "lending"
    assert parsed.market_price == "m:1:0xm"
    assert to_snapshot(parsed)["market_price"] == "m:1:0xm"
    plain = parse_position(b"p:1:0xa", _lending())
    assert not isinstance(plain, Closed) and plain.kind == "lending"
    assert plain.market_price is None and "market_price" not in to_snapshot(plain)
    with pytest.raises(Rejected, match="market_price"):
        parse_position(b"p:1:0xa", _lending(market_price=7))


def pool(**changes: object) -> bytes:
    """A WETH/USDC pool's reserves as wire bytes."""
    return orjson.dumps({"pool": "0xpool", "protocol": "uniswap-v2", "assets": ["WETH", "USDC"],
                         "reserves": [1000.0, 3_000_000.0], "fee": 0.003, "version": [7, 3],
                         "timestamp": 1.0, **changes})


def test_pool_reserves_round_trip_and_name_each_asset_s_reserve() -> None:
    reserves = parse_depth(b"0xpool", pool())
    assert reserves.reserve_of("WETH") == 1000.0 and reserves.reserve_of("USDC") == 3e6
    assert reserves.reserve_of("WBTC") is None
    assert parse_depth(b"0xpool", orjson.dumps(reserves.to_dict())) == reserves


@pytest.mark.parametrize(("changes", "reason"), [
    ({"assets": ["WETH", "WETH"]}, "invalid-depth"),
    ({"reserves": [1.0, -2.0]}, "invalid-depth"),
    ({"reserves": [1.0, "many"]}, "invalid-depth"),
    ({"fee": 1.0}, "invalid-depth"),
    ({"pool": "0xother"}, "key-mismatch"),
    ({"version": "latest"}, "invalid-version"),
])
def test_malformed_pool_reserves_are_rejected(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_depth(b"0xpool", pool(**changes))
    assert rejected.value.reason == reason
