"""Oracle prices for the `prices` topic: AnswerUpdated logs and pinned AaveOracle reads.

Aave liquidates at its own oracle's price (AaveOracle → Chainlink-style aggregator, 8-decimal
USD answers), so price updates come from the same feeds: each AnswerUpdated becomes an
update of every asset the feed prices, and AaveOracle.getAssetPrice at a block fills in the
state when ingestion starts, resumes or rewinds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from monitor.risk.aave_v3 import PRICE_UNIT
from monitor.sources.aave_v3.market import Market
from monitor.sources.evm.abi import encode_call, selector, word
from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.decoder import DecodedLog
from monitor.sources.evm.jsonrpc import RpcError, block_ref, eth_call
from monitor.sources.evm.rpc import Rpc
from monitor.wire import PriceUpdate

log = logging.getLogger(__name__)

GET_ASSET_PRICE = selector("getAssetPrice(address)")


def price_update(market: Market, asset: str, answer: int, version: tuple[int, int],
                 timestamp: float) -> WireRecord:
    """The wire price update of one reserve."""
    source = market.sources.get(asset, market.oracle)
    return PriceUpdate(market.name(asset), answer / PRICE_UNIT, version, timestamp,
                       f"chainlink:{source}").to_dict()


def updates_from_answer(market: Market, decoded: DecodedLog) -> list[WireRecord]:
    """Price updates for every asset priced by the feed that emitted an AnswerUpdated."""
    answer = decoded.args["current"]
    if answer <= 0:
        log.warning("feed %s answered %d at block %d; AaveOracle rejects it, not published",
                    decoded.address, answer, decoded.block)
        return []
    version = (decoded.block, decoded.log_index)
    return [price_update(market, asset, answer, version, float(decoded.args["updatedAt"]))
            for asset in sorted(market.feeds.get(decoded.address, ()))]


async def read_prices(rpc: Rpc, market: Market, reads: Sequence[Read]) -> list[WireRecord]:
    """AaveOracle.getAssetPrice of each asset read at its pinned block (assets it cannot price
    are logged and left out)."""
    answers = await rpc.batch([eth_call(market.oracle, encode_call(GET_ASSET_PRICE, r.key),
                                        block_ref(r.block_hash)) for r in reads])
    updates = []
    for read, answer in zip(reads, answers, strict=True):
        if isinstance(answer, RpcError) or len(answer) < 66:
            log.warning("AaveOracle cannot price %s at block %d: %s", read.key, read.block,
                        answer)
            continue
        value = word(answer, 0)
        if value > 0:
            updates.append(price_update(market, read.key, value, read.version, read.timestamp))
    return updates
