"""The snapshot table's compact value: the validated snapshot's bytes, read back as the
version recovery compares and the position a query or a rebuild needs."""

from __future__ import annotations

import tracemalloc

from monitor.risk import from_snapshot
from monitor.stream.positions.stored import stored_position, stored_value, stored_version

SNAPSHOT = {"position_id": "p", "protocol": "aave-v3", "account": "0x1", "kind": "lending",
            "collateral": [{"asset": "WETH", "amount": 2.0, "liquidation_threshold": 0.8}],
            "debt": [{"asset": "USDC", "amount": 100.0}], "version": [7, 2],
            "close_factor": 0.5}


def test_a_stored_snapshot_reads_back_as_its_version_and_position() -> None:
    raw = stored_value(dict(SNAPSHOT))
    assert stored_version(raw) == (7, 2)
    assert stored_position(raw) == from_snapshot(SNAPSHOT)


def test_a_closed_snapshot_is_a_tombstone_holding_its_version() -> None:
    raw = stored_value({"position_id": "p", "closed": True, "version": [9, 0]})
    assert stored_version(raw) == (9, 0)
    assert stored_position(raw) is None


def test_nothing_stored_is_no_version_and_no_position() -> None:
    assert stored_version(None) is None and stored_position(None) is None


def test_a_stored_value_holds_no_more_memory_than_its_bytes() -> None:
    """The memory store keeps every value: orjson's spare writer buffer must not come along."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        kept = [stored_value(dict(SNAPSHOT)) for _ in range(1000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        if started:
            tracemalloc.stop()
    assert held / len(kept) < len(kept[0]) + 200
