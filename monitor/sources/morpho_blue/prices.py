"""Each Morpho Blue market's own price for the `prices` topic: its oracle's price() at pinned
blocks, as loan-asset units per collateral unit under the market's price key (wire.py).

Morpho liquidates at that oracle, which emits nothing when it moves, so the adapter has the
follower poll it at the end of every step; an oracle shared by several markets is called once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from monitor.risk.morpho_blue import PROTOCOL, quoted_price
from monitor.sources.evm.abi import selector, word
from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.jsonrpc import RpcError, block_ref, eth_call
from monitor.sources.evm.rpc import Rpc
from monitor.sources.morpho_blue.markets import Market
from monitor.wire import PriceUpdate, market_price_key, parse_market_price_key

log = logging.getLogger(__name__)

PRICE = selector("price()")


def price_update(chain_id: int, market: Market, oracle_price: int, version: tuple[int, int],
                 timestamp: float) -> WireRecord:
    """The wire update of a market's price from its oracle's integer price (scaled 1e36)."""
    return PriceUpdate(market_price_key(PROTOCOL, chain_id, market.id),
                       quoted_price(oracle_price, market.collateral.decimals,
                                    market.loan.decimals),
                       version, timestamp, f"morpho-oracle:{market.params.oracle}").to_dict()


async def read_prices(rpc: Rpc, markets: Mapping[str, Market], chain_id: int,
                      reads: Sequence[Read]) -> list[WireRecord]:
    """The price of each market read (its key a market price key) at its pinned block; markets
    whose oracle cannot answer, or answers 0, are logged and left out."""
    wanted = []
    for read in reads:
        key = parse_market_price_key(read.key)
        if key is None or key.market not in markets:
            log.warning("%s is not the price of a known Morpho Blue market", read.key)
            continue
        wanted.append((read, markets[key.market]))
    calls = sorted({(market.params.oracle, read.block_hash) for read, market in wanted})
    answers = dict(zip(calls, await rpc.batch([eth_call(oracle, PRICE, block_ref(h))
                                               for oracle, h in calls]), strict=True))
    updates = []
    for read, market in wanted:
        answer = answers[(market.params.oracle, read.block_hash)]
        if isinstance(answer, RpcError) or len(answer) < 66 or word(answer, 0) == 0:
            log.warning("oracle %s of market %s has no price at block %d: %s",
                        market.params.oracle, market.id, read.block, answer)
            continue
        updates.append(price_update(chain_id, market, word(answer, 0), read.version,
                                    read.timestamp))
    return updates
