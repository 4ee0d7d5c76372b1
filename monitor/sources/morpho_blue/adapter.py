"""The Morpho Blue adapter: the one contract to watch, what its logs call for (a new market, a
position to re-read) and each followed market's oracle polled for its price every step."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence

from monitor.risk.morpho_blue import PROTOCOL
from monitor.sources.evm.adapter import LendingSource, Read, SourceConfig, WireRecord
from monitor.sources.evm.decoder import DecodedLog, EventSpec
from monitor.sources.evm.jsonrpc import BlockRef, block_ref
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.touches import Touches
from monitor.sources.morpho_blue.events import ROUTED, touched_position
from monitor.sources.morpho_blue.markets import (
    Market,
    MarketParams,
    created_markets,
    open_markets,
    read_params,
)
from monitor.sources.morpho_blue.positions import position_key, read_positions
from monitor.sources.morpho_blue.prices import read_prices
from monitor.wire import market_price_key


class MorphoBlue(LendingSource):
    """One Morpho Blue contract and the markets followed on it (all, or those configured)."""

    events: Mapping[str, EventSpec] = ROUTED

    def __init__(self, rpc: Rpc, chain_id: int, source: SourceConfig) -> None:
        super().__init__(rpc, chain_id)
        self.address = source.address.lower()
        self.names = {k.lower(): v for k, v in source.names.items()}
        self.wanted = frozenset(m.lower() for m in source.markets)
        self.markets: dict[str, Market] = {}
        self.discovered = False
        chosen = hashlib.sha256(",".join(sorted(self.wanted)).encode()).hexdigest()[:12]
        self.key = f"{PROTOCOL}:{self.address}" + (f":markets-{chosen}" if self.wanted else "")

    def addresses(self) -> Collection[str]:
        """The Morpho contract (oracles emit nothing)."""
        return (self.address,)

    def assets(self) -> Collection[str]:
        """The price key of every followed market."""
        return [market_price_key(PROTOCOL, self.chain_id, m) for m in self.markets]

    def polled(self) -> Collection[str]:
        """Every market's price: an oracle moves without a log."""
        return self.assets()

    def follows(self, market: str) -> bool:
        """Whether the market is followed (every market unless some were configured)."""
        return not self.wanted or market in self.wanted

    async def load(self, block: BlockRef) -> None:
        """On the first load, the markets that exist at `block`: the configured ones, or every
        one created so far (market params never change, so later loads keep them)."""
        if self.discovered:
            return
        if self.wanted:
            params = await read_params(self.rpc, self.address, sorted(self.wanted), block)
        else:
            params = await created_markets(self.rpc, self.address,
                                           await block_number(self.rpc, block))
        await self._add(params, block)
        self.discovered = True

    async def _add(self, params: Mapping[str, MarketParams], block: BlockRef) -> None:
        """Follow these markets, their tokens read at `block`."""
        for market in await open_markets(self.rpc, params, block, self.names):
            self.markets[market.id] = market

    async def route(self, log: DecodedLog, touches: Touches) -> bool:
        """CreateMarket follows a new market; a position event re-reads that position."""
        if log.event == "CreateMarket":
            if self.follows(log.args["id"]):
                await self._add({log.args["id"]: MarketParams.from_log(log)},
                                block_ref(log.block_hash))
            return False
        found = touched_position(log)
        if found is not None and found[0] in self.markets:
            touches.position(position_key(*found), log)
        return False

    async def read_positions(self, reads: Sequence[Read]) -> list[WireRecord]:
        """Positions at their pinned blocks."""
        return await read_positions(self.rpc, self.address, self.markets, self.chain_id, reads)

    async def read_prices(self, reads: Sequence[Read]) -> list[WireRecord]:
        """Market prices from their oracles at their pinned blocks."""
        return await read_prices(self.rpc, self.markets, self.chain_id, reads)


async def block_number(rpc: Rpc, block: BlockRef) -> int:
    """The number of a block given as the follower gives it (pinned by hash, or a hex number)."""
    if isinstance(block, dict):
        header = await rpc.call("eth_getBlockByHash", [block["blockHash"], False])
        return int(header["number"], 16)
    return int(block, 16)


async def open_morpho_blue(rpc: Rpc, chain_id: int, source: SourceConfig) -> MorphoBlue:
    """The adapter of the Morpho Blue contract at `source.address` (its markets load with the
    follower's first load, or arrive with their CreateMarket logs)."""
    return MorphoBlue(rpc, chain_id, source)
