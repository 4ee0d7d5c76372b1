"""The Uniswap v2 adapter: a factory's pairs (those listed, or every pair it had created when the
source opened), each Sync log a read of the pair's reserves at its block, published to `depth`
keyed by pair. The follower's reorg handling and checkpoint apply as to any adapter: a pair a
replaced block touched is read again."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from monitor.sources.evm.adapter import Read, SourceConfig, WireRecord
from monitor.sources.evm.decoder import DecodedLog, EventSpec, event_spec, spec_table
from monitor.sources.evm.jsonrpc import BlockRef
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.touches import Touches
from monitor.sources.uniswap_v2.pairs import (
    PROTOCOL,
    Pair,
    load_pairs,
    pair_addresses,
    read_reserves,
)
from monitor.wire import DEPTH

SPECS: Final = spec_table([event_spec("Sync(uint112 reserve0, uint112 reserve1)")])


class UniswapV2:
    """The followed pairs of one factory."""

    events: Mapping[str, EventSpec] = SPECS
    topic: str = DEPTH

    def __init__(self, rpc: Rpc, source: SourceConfig, pairs: dict[str, Pair]) -> None:
        self.rpc, self.source, self.pairs = rpc, source, pairs
        self.key = f"{PROTOCOL}:{source.address}"

    def addresses(self) -> Collection[str]:
        """The followed pairs."""
        return self.pairs.keys()

    def assets(self) -> Collection[str]:
        """The pairs, each one depth record (read whole on a fresh start)."""
        return self.pairs.keys()

    def polled(self) -> Collection[str]:
        """None: a pair announces every reserve change with Sync."""
        return ()

    async def load(self, block: BlockRef) -> None:
        """Nothing: a pair's tokens never change (its reserves are read where touched)."""

    async def route(self, log: DecodedLog, touches: Touches) -> bool:
        """A Sync: read the pair's reserves at the end of its block."""
        if log.address in self.pairs:
            touches.price_read(log.address, log)
        return False

    async def read_positions(self, reads: Sequence[Read]) -> list[WireRecord]:
        """None: pairs hold no positions."""
        return []

    async def read_prices(self, reads: Sequence[Read]) -> list[WireRecord]:
        """Reserves at the pinned blocks."""
        return await read_reserves(self.rpc, self.pairs, reads)


async def open_uniswap_v2(rpc: Rpc, chain_id: int, source: SourceConfig) -> UniswapV2:
    """The adapter of the factory at `source.address`, its pairs found at the head."""
    listed = list(source.markets) or await pair_addresses(rpc, source.address, "latest")
    return UniswapV2(rpc, source, await load_pairs(rpc, listed, source.names, "latest"))
