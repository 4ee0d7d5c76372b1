"""Oracle prices for the `prices` topic: AnswerUpdated logs and pinned AaveOracle reads.

Aave liquidates at its own oracle's price (AaveOracle → Chainlink-style aggregator, 8-decimal
USD answers), so price updates come from the same feeds: each AnswerUpdated becomes an
update of every asset the feed prices, and AaveOracle.getAssetPrice at a block fills in the
state when ingestion starts, resumes or rewinds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from monitor.chain.abi import encode_call, selector, word
from monitor.chain.events import DecodedLog
from monitor.chain.reserves import Market, block_ref, eth_call
from monitor.chain.rpc import Rpc, RpcError

log = logging.getLogger(__name__)

PRICE_UNIT = 1e8  # AaveOracle's USD base currency unit (Chainlink USD feeds: 8 decimals)
GET_ASSET_PRICE = selector("getAssetPrice(address)")


def price_update(market: Market, asset: str, answer: int, version: tuple[int, int],
                 timestamp: float) -> dict[str, Any]:
    """The wire price update of one reserve."""
    source = market.sources.get(asset, market.oracle)
    return {"asset": market.name(asset), "price": answer / PRICE_UNIT,
            "source": f"chainlink:{source}", "version": list(version), "timestamp": timestamp}


def updates_from_answer(market: Market, decoded: DecodedLog) -> list[dict[str, Any]]:
    """Price updates for every asset priced by the feed that emitted an AnswerUpdated."""
    answer = decoded.args["current"]
    if answer <= 0:
        log.warning("feed %s answered %d at block %d; AaveOracle rejects it, not published",
                    decoded.address, answer, decoded.block)
        return []
    version = (decoded.block, decoded.log_index)
    return [price_update(market, asset, answer, version, float(decoded.args["updatedAt"]))
            for asset in sorted(market.feeds.get(decoded.address, ()))]


async def read_prices(rpc: Rpc, market: Market, assets: Sequence[str], block: int,
                      block_hash: str, version: tuple[int, int], timestamp: float
                      ) -> list[dict[str, Any]]:
    """AaveOracle.getAssetPrice of each asset at a pinned block (assets it cannot price are
    logged and left out)."""
    ref = block_ref(block_hash)
    answers = await rpc.batch([eth_call(market.oracle, encode_call(GET_ASSET_PRICE, a), ref)
                               for a in assets])
    updates = []
    for asset, answer in zip(assets, answers, strict=True):
        if isinstance(answer, RpcError) or len(answer) < 66:
            log.warning("AaveOracle cannot price %s at block %d: %s", asset, block, answer)
            continue
        value = word(answer, 0)
        if value > 0:
            updates.append(price_update(market, asset, value, version, timestamp))
    return updates
