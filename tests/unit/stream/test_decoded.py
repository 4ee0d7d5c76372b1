"""The memo of decoded positions: the same bytes give the same decoded position without decoding
again, changed bytes are decoded again, a tombstone or nothing stored is None, and it holds at
most its size."""

from __future__ import annotations

from monitor.risk import from_snapshot
from monitor.stream.positions.decoded import Decoded
from monitor.stream.positions.stored import stored_value
from tests.unit.stream.test_stored import SNAPSHOT


def test_the_same_bytes_are_decoded_once_and_changed_bytes_again() -> None:
    decoded = Decoded()
    raw = stored_value(dict(SNAPSHOT))
    first = decoded.position("p", raw)
    assert first == from_snapshot(SNAPSHOT)
    assert decoded.position("p", bytes(raw)) is first  # equal bytes read back from a store
    newer = stored_value({**SNAPSHOT, "version": [8, 0], "debt": [
        {"asset": "USDC", "amount": 150.0}]})
    second = decoded.position("p", newer)
    assert second is not first and second == from_snapshot(
        {**SNAPSHOT, "version": [8, 0], "debt": [{"asset": "USDC", "amount": 150.0}]})


def test_nothing_stored_or_a_tombstone_is_none() -> None:
    decoded = Decoded()
    assert decoded.position("p", stored_value(dict(SNAPSHOT))) is not None
    assert decoded.position("p", None) is None
    assert decoded.position("p", stored_value({**SNAPSHOT, "closed": True})) is None


def test_it_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    decoded = Decoded(size=2)
    raws = {k: stored_value({**SNAPSHOT, "position_id": k}) for k in "abc"}
    a = decoded.position("a", raws["a"])
    decoded.position("b", raws["b"])
    assert decoded.position("a", raws["a"]) is a  # a used again: b is now the oldest
    decoded.position("c", raws["c"])
    assert decoded.position("a", raws["a"]) is a
    assert decoded.position("b", raws["b"]) is not None and len(decoded._kept) == 2
