"""Input limits: how big a record may be, how much work one position may cost, which ids and
versions are plausible, so that no single record can crash, poison, freeze or slow the pipeline
(README "Reliability"). Pure values; the wire parsers and the input agents apply them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Every id the stream accepts can be queried back (GET /positions/{id}/).
ID_RE: Final = re.compile(r"^[\x21-\x7e]{1,256}$")
# Asset symbols and market price keys ('morpho-blue:1:0x' + 64 hex digits).
ASSET_RE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A dead letter never exceeds this many bytes (the producer's limit is 1,000,000): a longer one
# keeps DEAD_LETTER_HEAD bytes of the original value with its size and SHA-256 digest.
DEAD_LETTER_BYTES: Final = 512 * 1024
DEAD_LETTER_HEAD: Final = 1024
DETAIL_CHARS: Final = 1024  # a rejection's detail is cut to this many characters


@dataclass(frozen=True)
class Limits:
    """What one input record may hold; beyond it the record is dead-lettered, never applied."""

    max_record_bytes: int = 64 * 1024  # key + value of one input record
    max_legs: int = 32  # collateral + debt legs of one position
    max_assets: int = 16  # distinct assets one position's health depends on
    max_version: int = 2**53 - 1  # either part of any version (JSON's exact integers)
    version_margin: int = 1_000_000  # blocks a chain source may run ahead of its highest yet

    def oversized(self, key: bytes | None, value: bytes | None) -> int | None:
        """The record's size when it exceeds max_record_bytes, else None."""
        size = len(key or b"") + len(value or b"")
        return size if size > self.max_record_bytes else None


class ChainHeads:
    """The highest block accepted per chain: a chain source's version beyond it plus the margin
    is implausible (a block that cannot exist yet). Learnt from the records themselves, so the
    first record of a chain is bounded only by max_version."""

    def __init__(self, margin: int) -> None:
        self.margin = margin
        self.heads: dict[int, int] = {}

    def plausible(self, chain_id: int, block: int) -> bool:
        """Whether `block` is within the margin of the chain's head (and if so, take it)."""
        head = self.heads.get(chain_id)
        if head is not None and block > head + self.margin:
            return False
        if head is None or block > head:
            self.heads[chain_id] = block
        return True
