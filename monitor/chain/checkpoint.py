"""The ingester's checkpoint: last fully processed block, its hash and recent blocks for reorgs.

A small JSON file replaced atomically (write, fsync, rename), so a crash leaves either the
old or the new checkpoint. Recent blocks keep their hash and the accounts and assets they
touched: on a changed hash the ingester rewinds to the fork point and re-emits those.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (corrupt, or for another chain or pool)."""


@dataclass
class RecentBlock:
    """A processed block kept for reorg detection: what it touched, to re-emit on a fork."""

    number: int
    hash: str
    accounts: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)


@dataclass
class Checkpoint:
    """Where the ingester stands on one chain and pool."""

    chain_id: int
    pool: str
    block: int
    recent: list[RecentBlock] = field(default_factory=list)
    # accounts / reserve assets orphaned by a reorg -> block the new chain must reach to re-emit
    pending_accounts: dict[str, int] = field(default_factory=dict)
    pending_assets: dict[str, int] = field(default_factory=dict)

    @property
    def hash(self) -> str | None:
        """Hash of the last processed block when it is among the recent blocks."""
        return self.recent[-1].hash if self.recent and self.recent[-1].number == self.block \
            else None

    def record(self, blocks: list[RecentBlock], window: int) -> None:
        """Append processed blocks (ascending) and keep only the last `window` of them."""
        merged = {b.number: b for b in self.recent}
        merged.update({b.number: b for b in blocks})
        self.recent = [merged[n] for n in sorted(merged)][-window:]

    def rewind(self, fork: int) -> list[RecentBlock]:
        """Drop recent blocks above `fork`, make it the last processed block; return the dropped."""
        dropped = [b for b in self.recent if b.number > fork]
        self.recent = [b for b in self.recent if b.number <= fork]
        self.block = fork
        return dropped

    def to_json(self) -> bytes:
        """The file's bytes."""
        return orjson.dumps({
            "format": FORMAT, "chain_id": self.chain_id, "pool": self.pool, "block": self.block,
            "hash": self.hash,
            "recent": [[b.number, b.hash, b.accounts, b.assets] for b in self.recent],
            "pending_accounts": self.pending_accounts, "pending_assets": self.pending_assets,
        })

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Parse a checkpoint file's bytes; CheckpointError when malformed."""
        try:
            doc: dict[str, Any] = orjson.loads(raw)
            if doc.get("format") != FORMAT:
                raise CheckpointError(f"unknown checkpoint format {doc.get('format')!r}")
            return cls(
                chain_id=int(doc["chain_id"]), pool=str(doc["pool"]).lower(),
                block=int(doc["block"]),
                recent=[RecentBlock(int(n), str(h), [str(a) for a in accts],
                                    [str(a) for a in assets])
                        for n, h, accts, assets in doc.get("recent", [])],
                pending_accounts={str(k): int(v)
                                  for k, v in doc.get("pending_accounts", {}).items()},
                pending_assets={str(k): int(v) for k, v in doc.get("pending_assets", {}).items()},
            )
        except CheckpointError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}") from exc


def load_checkpoint(path: Path, chain_id: int, pool: str) -> Checkpoint | None:
    """The checkpoint at `path` (None when absent); CheckpointError for another chain/pool."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    cp = Checkpoint.from_json(raw)
    if cp.chain_id != chain_id or cp.pool != pool.lower():
        raise CheckpointError(f"{path} is for chain {cp.chain_id} pool {cp.pool}, not chain "
                              f"{chain_id} pool {pool.lower()}; use another --checkpoint")
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
