"""Input validation and the dead-letter record (pure functions, no Faust)."""

from __future__ import annotations

import orjson
import pytest

from monitor.wire import Closed, Rejected, dead_letter, parse_position, parse_price


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
