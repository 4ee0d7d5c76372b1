"""The snapshot table's value: the validated snapshot's JSON bytes, nothing added.

Recovery needs a position's snapshot (to rebuild its book row), its version (to refuse older
snapshots) and, for a closed position, a tombstone holding the version: the `closed` snapshot
itself is all three. The partition is the app's hash of the key, so it is not stored. The
books hold arrays only; a query for one position decodes its stored bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

from monitor.risk import Position, from_valid_snapshot
from monitor.wire import Version


def stored_value(snapshot: dict[str, Any]) -> bytes:
    """The table value of a validated snapshot (a closed one is its own tombstone), copied
    to its exact size: orjson's output keeps its 4 KiB writer buffer, which the memory store
    would hold for every position."""
    return bytes(memoryview(orjson.dumps(snapshot)))


def stored_version(raw: bytes | None) -> Version | None:
    """The version a stored value holds (None when nothing is stored)."""
    if raw is None:
        return None
    major, minor = orjson.loads(raw)["version"]
    return major, minor


def stored_position(raw: bytes | None) -> Position | None:
    """The open position a stored value holds (None for nothing stored or a tombstone); the
    keeper stored it validated, so it is not checked again."""
    if raw is None:
        return None
    snapshot = orjson.loads(raw)
    return None if snapshot.get("closed") is True else from_valid_snapshot(snapshot)
