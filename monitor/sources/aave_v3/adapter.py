"""The Aave V3 adapter: which of a pool's contracts to watch and what each of their logs calls
for (position re-reads, oracle reads, feed answers, reserve and price source changes)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from monitor.risk.aave_v3 import PROTOCOL
from monitor.sources.aave_v3.events import ACCOUNT_ARGS, CONFIG_CHANGES, SPECS, affected_accounts
from monitor.sources.aave_v3.market import Market, add_reserve, discover, load_reserves, set_source
from monitor.sources.aave_v3.positions import read_positions
from monitor.sources.aave_v3.prices import read_prices, updates_from_answer
from monitor.sources.evm.adapter import LendingSource, Read, SourceConfig, WireRecord
from monitor.sources.evm.decoder import DecodedLog, EventSpec
from monitor.sources.evm.jsonrpc import BlockRef, block_ref
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.touches import Touches


class AaveV3(LendingSource):
    """One Aave V3 pool: its aTokens, configurator, oracle and price feeds."""

    events: Mapping[str, EventSpec] = SPECS

    def __init__(self, rpc: Rpc, chain_id: int, market: Market) -> None:
        super().__init__(rpc, chain_id)
        self.market = market
        self.key = f"{PROTOCOL}:{market.pool}"
        self.known: set[str] = set()  # accounts seen since start, re-read on config changes

    def addresses(self) -> Collection[str]:
        """Pool, configurator, oracle, aTokens and feeds."""
        return self.market.watched()

    def assets(self) -> Collection[str]:
        """The reserves (each priced by AaveOracle)."""
        return self.market.reserves.keys()

    def polled(self) -> Collection[str]:
        """None: every feed announces its answers with AnswerUpdated."""
        return ()

    async def load(self, block: BlockRef) -> None:
        """The reserves and feeds at `block`."""
        await load_reserves(self.rpc, self.market, block)

    async def route(self, log: DecodedLog, touches: Touches) -> bool:
        """Position events re-read the accounts they name; configurator and oracle events
        change the reserves or feeds (True: the watched set changed); answers are prices."""
        market = self.market
        if log.event in ACCOUNT_ARGS:
            if log.address != market.pool and log.address not in market.a_tokens():
                return False
            for account in affected_accounts(log):
                self._touch(touches, account, log)
            return False
        if log.address == market.configurator:
            if log.event == "ReserveInitialized":
                await add_reserve(self.rpc, market, log.args["asset"], block_ref(log.block_hash))
                touches.price_read(log.args["asset"], log)
                return True
            if log.event == "ReserveDropped":
                market.reserves.pop(log.args["asset"], None)
            if log.event in CONFIG_CHANGES or log.event == "ReserveDropped":
                for account in sorted(self.known):
                    self._touch(touches, account, log)
            return False
        if log.address == market.oracle and log.event == "AssetSourceUpdated":
            await set_source(self.rpc, market, log.args["asset"], log.args["source"],
                             block_ref(log.block_hash))
            if log.args["asset"] in market.reserves:
                touches.price_read(log.args["asset"], log)
            return True
        if log.event == "AnswerUpdated" and log.address in market.feeds:
            touches.price_updates(updates_from_answer(market, log), market.feeds[log.address],
                                  log)
        return False

    def _touch(self, touches: Touches, account: str, log: DecodedLog) -> None:
        """Re-read an account at this log's block, and remember it for config changes."""
        self.known.add(account)
        touches.position(account, log)

    async def read_positions(self, reads: Sequence[Read]) -> list[WireRecord]:
        """Whole positions at their pinned blocks."""
        return await read_positions(self.rpc, self.market, self.chain_id, reads)

    async def read_prices(self, reads: Sequence[Read]) -> list[WireRecord]:
        """AaveOracle prices at their pinned blocks."""
        return await read_prices(self.rpc, self.market, reads)


async def open_aave_v3(rpc: Rpc, chain_id: int, source: SourceConfig) -> AaveV3:
    """The adapter of the pool at `source.address`, its market discovered at the head."""
    return AaveV3(rpc, chain_id, await discover(rpc, source.address, source.names))
