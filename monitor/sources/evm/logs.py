"""eth_getLogs in bounded block ranges that shrink on provider limits and grow back.

Providers cap eth_getLogs (often 10,000 results or a few thousand blocks) and say so in
free text; the range halves (or takes the range the provider suggests) on such an error
and doubles again after a run of successes, so a backfill runs at the provider's pace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.sources.evm.jsonrpc import RpcError
from monitor.sources.evm.rpc import Rpc

RANGE_HINTS = ("too many", "more than", "block range", "range too", "range is too",
               "range exceeds", "exceed maximum", "response size", "limited to",
               "query timeout", "too large", "too wide", "max range")
_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")


def is_range_error(exc: RpcError) -> bool:
    """True when an eth_getLogs error says the block range or result set is too large."""
    text = exc.message.lower()
    return any(hint in text for hint in RANGE_HINTS)


def suggested_span(exc: RpcError) -> int | None:
    """The span of the block range a provider suggests in its error text ('[0x1, 0x2]')."""
    match = _SUGGESTED.search(exc.message)
    if match is None:
        return None
    low, high = int(match.group(1), 16), int(match.group(2), 16)
    return high - low + 1 if high >= low else None


@dataclass
class RangeSizer:
    """The adaptive number of blocks per eth_getLogs call: halved (or cut to the node's
    suggestion) when a node refuses a range, doubled after `grow_after` full ranges in a row."""

    span: int = 2_000  # blocks per call now
    minimum: int = 1  # a node refusing one block's logs is an error, not a range to cut
    maximum: int = 10_000
    grow_after: int = 3
    _streak: int = 0  # full ranges in a row since the span last changed

    def shrink(self, suggestion: int | None = None) -> bool:
        """Make the range smaller (to the suggestion or by half); False if already minimal."""
        if self.span <= self.minimum:
            return False
        target = suggestion if suggestion is not None and suggestion < self.span else \
            self.span // 2
        self.span = max(self.minimum, target)
        self._streak = 0
        return True

    def success(self, used: int) -> None:
        """Record a successful call over `used` blocks; grow after a streak of full ranges."""
        if used < self.span:
            return
        self._streak += 1
        if self._streak >= self.grow_after:
            self.span = min(self.maximum, self.span * 2)
            self._streak = 0


@dataclass(frozen=True)
class LogFilter:
    """Which contracts and event topics to ask for."""

    addresses: tuple[str, ...]
    topics: tuple[str, ...]

    def params(self, start: int, end: int) -> dict[str, Any]:
        """The eth_getLogs filter object for blocks start..end inclusive."""
        return {"fromBlock": hex(start), "toBlock": hex(end), "address": list(self.addresses),
                "topics": [list(self.topics)]}


async def fetch_logs(rpc: Rpc, flt: LogFilter, start: int, last: int, sizer: RangeSizer
                     ) -> tuple[int, list[dict[str, Any]]]:
    """Logs of blocks start..end for the largest end <= last the provider accepts.

    Returns (end, logs); raises the RpcError when even a one-block range is refused."""
    while True:
        end = min(last, start + sizer.span - 1)
        try:
            logs = await rpc.call("eth_getLogs", [flt.params(start, end)])
        except RpcError as exc:
            if not is_range_error(exc) or not sizer.shrink(suggested_span(exc)):
                raise
            continue
        sizer.success(end - start + 1)
        return end, list(logs or [])


def sort_logs(logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Logs in chain order (block, log index), duplicates (same block hash and index) dropped."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in logs:
        seen[(str(entry.get("blockHash")), str(entry.get("logIndex")))] = entry
    return sorted(seen.values(),
                  key=lambda e: (int(e.get("blockNumber") or "0x0", 16),
                                 int(e.get("logIndex") or "0x0", 16)))
