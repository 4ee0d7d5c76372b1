"""The follower's checkpoint: last fully processed block, its hash and recent blocks for reorgs.

A small JSON file replaced atomically (write, fsync, rename), so a crash leaves either the
old or the new checkpoint. It names the chain and the set of sources followed, since one cursor
serves them all. Recent blocks keep their hash and, per source, the accounts and assets they
touched: on a changed hash the follower rewinds to the fork point and re-reads those.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT = 2  # 2: bookkeeping per source (format 1 had one pool)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (corrupt, or for another chain or set of sources)."""


@dataclass
class Touched:
    """The accounts (positions) and assets (prices) a source re-read because of one block."""

    accounts: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)


@dataclass
class RecentBlock:
    """A processed block kept for reorg detection: what it touched per source, to re-read on a
    fork."""

    number: int
    hash: str
    touched: dict[str, Touched] = field(default_factory=dict)


@dataclass
class Pending:
    """One source's accounts and assets to re-read -> block the new chain must reach first
    (orphaned by a reorg, or touched by a step that failed while publishing)."""

    accounts: dict[str, int] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)

    def add(self, touched: Touched, block: int) -> None:
        """Re-read what `touched` names once the chain reaches `block`."""
        for account in touched.accounts:
            self.accounts[account] = max(self.accounts.get(account, 0), block)
        for asset in touched.assets:
            self.assets[asset] = max(self.assets.get(asset, 0), block)

    def due(self, block: int) -> Touched:
        """What may be re-read at `block`."""
        return Touched([a for a, at in self.accounts.items() if at <= block],
                       [a for a, at in self.assets.items() if at <= block])

    def done(self, reread: Touched) -> None:
        """Forget what has been re-read."""
        for account in reread.accounts:
            del self.accounts[account]
        for asset in reread.assets:
            del self.assets[asset]


@dataclass
class Checkpoint:
    """Where the follower stands on one chain for a set of sources (sorted source keys)."""

    chain_id: int
    sources: tuple[str, ...]
    block: int
    recent: list[RecentBlock] = field(default_factory=list)
    pending: dict[str, Pending] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sources = tuple(sorted(self.sources))

    @property
    def hash(self) -> str | None:
        """Hash of the last processed block when it is among the recent blocks."""
        return self.recent[-1].hash if self.recent and self.recent[-1].number == self.block \
            else None

    def pending_for(self, source: str) -> Pending:
        """One source's pending re-reads."""
        return self.pending.setdefault(source, Pending())

    def record(self, blocks: list[RecentBlock], window: int) -> None:
        """Append processed blocks (ascending) and keep only the last `window` of them."""
        merged = {b.number: b for b in self.recent}
        merged.update({b.number: b for b in blocks})
        self.recent = [merged[n] for n in sorted(merged)][-window:]

    def rewind(self, fork: int) -> list[RecentBlock]:
        """Drop recent blocks above `fork` and make it the last processed block; what they
        touched is re-read once the new chain is past them. Returns the dropped blocks."""
        dropped = [b for b in self.recent if b.number > fork]
        self.recent = [b for b in self.recent if b.number <= fork]
        self.block = fork
        for b in dropped:
            for source, touched in b.touched.items():
                self.pending_for(source).add(touched, b.number + 1)
        return dropped

    def to_json(self) -> bytes:
        """The file's bytes."""
        return orjson.dumps({
            "format": FORMAT, "chain_id": self.chain_id, "sources": list(self.sources),
            "block": self.block, "hash": self.hash,
            "recent": [[b.number, b.hash, {s: [t.accounts, t.assets]
                                           for s, t in b.touched.items()}]
                       for b in self.recent],
            "pending": {s: [p.accounts, p.assets] for s, p in self.pending.items()},
        })

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Parse a checkpoint file's bytes; CheckpointError when malformed."""
        try:
            doc: dict[str, Any] = orjson.loads(raw)
            if doc.get("format") != FORMAT:
                raise CheckpointError(f"unknown checkpoint format {doc.get('format')!r} "
                                      f"(expected {FORMAT}); use another --checkpoint")
            return cls(
                chain_id=int(doc["chain_id"]), sources=tuple(str(s) for s in doc["sources"]),
                block=int(doc["block"]),
                recent=[RecentBlock(int(n), str(h), {str(s): Touched(_texts(t[0]), _texts(t[1]))
                                                     for s, t in touched.items()})
                        for n, h, touched in doc.get("recent", [])],
                pending={str(s): Pending(_blocks(p[0]), _blocks(p[1]))
                         for s, p in doc.get("pending", {}).items()},
            )
        except CheckpointError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError,
                IndexError) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}") from exc


def _texts(values: Iterable[Any]) -> list[str]:
    """A JSON list as strings."""
    return [str(v) for v in values]


def _blocks(values: dict[str, Any]) -> dict[str, int]:
    """A JSON object of block numbers."""
    return {str(k): int(v) for k, v in values.items()}


def load_checkpoint(path: Path, chain_id: int, sources: Iterable[str]) -> Checkpoint | None:
    """The checkpoint at `path` (None when absent); CheckpointError for another chain or another
    set of sources."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    cp = Checkpoint.from_json(raw)
    wanted = tuple(sorted(sources))
    if cp.chain_id != chain_id or cp.sources != wanted:
        raise CheckpointError(f"{path} is for chain {cp.chain_id} sources {', '.join(cp.sources)}"
                              f", not chain {chain_id} sources {', '.join(wanted)}; use another "
                              "--checkpoint")
    return cp


def save_checkpoint(path: Path, cp: Checkpoint) -> None:
    """Atomically replace the checkpoint file (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(cp.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
