"""What one adapter's logs in a block range ask for, collected while they are routed and acted on
once the range is read: position re-reads, price reads, prices the logs carry themselves, the
prices polled at the range's end, and per block what was touched (kept in the checkpoint to
re-read after a reorg)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from monitor.sources.evm.checkpoint import Touched
from monitor.sources.evm.decoder import DecodedLog

END_OF_BLOCK: Final = 2**31 - 1  # log index of a re-read that stands for the whole block's end


class ReadPoint(NamedTuple):
    """A read at the end of `block`, pinned by its hash and versioned (block, index)."""

    block: int
    log_index: int
    block_hash: str


def _point_of(log: DecodedLog) -> ReadPoint:
    """The read point a log calls for: its block, versioned by the log itself."""
    return ReadPoint(log.block, log.log_index, log.block_hash)


@dataclass
class Touches:
    """One adapter's share of a step; its methods are what the adapter calls while routing."""

    positions: dict[str, ReadPoint] = field(default_factory=dict)  # account -> its newest log
    price_reads: list[tuple[str, ReadPoint]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    polls: list[tuple[str, ReadPoint]] = field(default_factory=list)
    accounts_at: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    assets_at: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    def position(self, account: str, log: DecodedLog) -> None:
        """Re-read `account` at this log's block, versioned by this log."""
        self.positions[account] = _point_of(log)
        self.accounts_at[log.block].add(account)

    def price_read(self, asset: str, log: DecodedLog) -> None:
        """Read `asset`'s price at this log's block, versioned by this log."""
        self.price_reads.append((asset, _point_of(log)))
        self.assets_at[log.block].add(asset)

    def price_updates(self, updates: Iterable[dict[str, Any]], assets: Iterable[str],
                      log: DecodedLog) -> None:
        """Publish the wire price updates a log carries itself; `assets` are what it touched."""
        self.prices.extend(updates)
        self.assets_at[log.block].update(assets)

    def poll(self, assets: Iterable[str], block: int, block_hash: str) -> None:
        """Read these prices at the end of `block`; only those that moved are published."""
        end = ReadPoint(block, END_OF_BLOCK, block_hash)
        self.polls.extend((asset, end) for asset in assets)

    def polled_moved(self, updates: Iterable[dict[str, Any]]) -> None:
        """Publish the polled prices that moved, touched at the block they were read at (so a
        reorg re-reads them)."""
        for update in updates:
            self.prices.append(update)
            self.assets_at[update["version"][0]].add(update["asset"])

    def reread(self, pending: Touched, block: int, block_hash: str) -> None:
        """Re-read what a reorg or a failed step left pending, at the end of `block`."""
        end = ReadPoint(block, END_OF_BLOCK, block_hash)
        for account in pending.accounts:
            self.positions[account] = end
            self.accounts_at[block].add(account)
        for asset in pending.assets:
            self.price_reads.append((asset, end))
            self.assets_at[block].add(asset)

    def read_blocks(self) -> set[int]:
        """The blocks the reads are pinned to."""
        return {p.block for p in self.positions.values()} | \
            {p.block for _, p in self.price_reads}

    def touched(self, block: int) -> Touched | None:
        """What this step touched at `block` (None when nothing)."""
        accounts, assets = self.accounts_at.get(block), self.assets_at.get(block)
        if not accounts and not assets:
            return None
        return Touched(sorted(accounts or ()), sorted(assets or ()))

    def everything(self) -> Touched:
        """What this step touched at any block."""
        return Touched(sorted(set().union(*self.accounts_at.values())),
                       sorted(set().union(*self.assets_at.values())))
