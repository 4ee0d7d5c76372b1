"""The positions most recently decoded from the snapshot table, kept while their stored bytes
are unchanged: a joint cascade's exact checks ask for the same near-liquidation positions round
after round and pass after pass, and decoding one costs more than the check itself."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from monitor.risk import Position
from monitor.stream.positions.stored import stored_position

KEPT: Final = 10_000  # decoded positions kept (least recently used dropped first)


class Decoded:
    """A bounded, least-recently-used memo of stored_position by key, checked against the
    bytes it was decoded from (a changed snapshot is decoded again)."""

    def __init__(self, size: int = KEPT) -> None:
        self.size = size
        self._kept: OrderedDict[str, tuple[bytes, Position | None]] = OrderedDict()

    def position(self, key: str, raw: bytes | None) -> Position | None:
        """The open position stored as `raw` under `key` (None for nothing or a tombstone)."""
        if raw is None:
            self._kept.pop(key, None)
            return None
        held = self._kept.get(key)
        if held is not None and held[0] == raw:
            self._kept.move_to_end(key)
            return held[1]
        position = stored_position(raw)
        self._kept[key] = (raw, position)
        self._kept.move_to_end(key)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return position
