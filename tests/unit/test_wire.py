"""Input validation and the dead-letter record (pure functions, no Faust)."""

from __future__ import annotations

import orjson
import pytest

from monitor.wire import (
    AlertRecord,
    Closed,
    Rejected,
    dead_letter,
    parse_alert,
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
