"""The Aave V3 market as of a block: reserves, their tokens and symbols, and oracle price feeds.

The adapter needs to know which aToken and aggregator addresses to watch and how to name
each reserve on the wire; this registry is read from the chain (pool → addresses provider →
configurator and oracle) and kept current by the configurator and oracle events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.sources.evm.abi import (
    address_array,
    encode_call,
    selector,
    string_result,
    word,
    word_address,
)
from monitor.sources.evm.jsonrpc import BlockRef, RpcError, check, eth_call
from monitor.sources.evm.rpc import Rpc

log = logging.getLogger(__name__)

ZERO = "0x" + "0" * 40
SEL = {name: selector(sig) for name, sig in {
    "provider": "ADDRESSES_PROVIDER()",
    "configurator": "getPoolConfigurator()",
    "oracle": "getPriceOracle()",
    "pool": "getPool()",
    "reserves": "getReservesList()",
    "reserve_data": "getReserveData(address)",
    "symbol": "symbol()",
    "source": "getSourceOfAsset(address)",
    "aggregator": "aggregator()",
}.items()}


@dataclass(frozen=True)
class Reserve:
    """One reserve: its underlying asset, wire name, bitmap id and tokens."""

    asset: str
    symbol: str
    id: int
    a_token: str
    stable_debt: str
    variable_debt: str


@dataclass
class Market:
    """A pool's reserves and price feeds (feed = the contract that emits AnswerUpdated)."""

    pool: str
    configurator: str
    oracle: str
    reserves: dict[str, Reserve] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # asset -> oracle source (proxy)
    feeds: dict[str, set[str]] = field(default_factory=dict)  # emitting feed -> assets
    names: Mapping[str, str] = field(default_factory=dict)  # asset -> preferred wire name

    def by_id(self) -> list[Reserve]:
        """Reserves in bitmap id order."""
        return sorted(self.reserves.values(), key=lambda r: r.id)

    def watched(self) -> tuple[str, ...]:
        """Every contract whose logs matter: pool, configurator, oracle, aTokens, feeds."""
        addrs = {self.pool, self.configurator, self.oracle, *self.feeds}
        addrs.update(r.a_token for r in self.reserves.values())
        addrs.discard(ZERO)
        return tuple(sorted(addrs))

    def a_tokens(self) -> set[str]:
        """Addresses of every reserve's aToken."""
        return {r.a_token for r in self.reserves.values()}

    def name(self, asset: str) -> str:
        """Wire name of a reserve (its symbol, or the address when unknown)."""
        reserve = self.reserves.get(asset)
        return reserve.symbol if reserve else self.names.get(asset, asset)


async def discover(rpc: Rpc, pool: str, names: Mapping[str, str] | None = None) -> Market:
    """The market's configurator and oracle, from the pool's PoolAddressesProvider (latest)."""
    pool = pool.lower()
    provider = word_address(await rpc.call(*eth_call(pool, SEL["provider"], "latest")), 0)
    if provider == ZERO:
        raise ValueError(f"{pool} does not look like an Aave V3 pool (no ADDRESSES_PROVIDER)")
    answers = await rpc.batch([
        eth_call(provider, SEL["configurator"], "latest"),
        eth_call(provider, SEL["oracle"], "latest"), eth_call(provider, SEL["pool"], "latest")])
    try:
        conf, oracle, registered = (str(check(a)) for a in answers)
    except RpcError as exc:
        raise ValueError(f"addresses provider {provider} of pool {pool}: {exc}") from exc
    if word_address(registered, 0) != pool:
        raise ValueError(f"{pool} is not the pool of its addresses provider {provider} "
                         f"(which names {word_address(registered, 0)})")
    return Market(pool, word_address(conf, 0), word_address(oracle, 0),
                  names={k.lower(): v for k, v in (names or {}).items()})


async def load_reserves(rpc: Rpc, market: Market, block: BlockRef) -> None:
    """Replace the market's reserves and feeds with their state at `block`."""
    raw = await rpc.call(*eth_call(market.pool, SEL["reserves"], block))
    assets = address_array(raw or "0x")
    market.reserves.clear()
    market.sources.clear()
    market.feeds.clear()
    for asset in assets:
        await add_reserve(rpc, market, asset, block)


async def add_reserve(rpc: Rpc, market: Market, asset: str, block: BlockRef) -> None:
    """Read one reserve (tokens, id, symbol, price source) at `block` into the market."""
    asset = asset.lower()
    data, sym, src = await rpc.batch([
        eth_call(market.pool, encode_call(SEL["reserve_data"], asset), block),
        eth_call(asset, SEL["symbol"], block),
        eth_call(market.oracle, encode_call(SEL["source"], asset), block)])
    if isinstance(data, RpcError) or word_address(data, 8) == ZERO:
        log.warning("reserve %s has no reserve data at %s; ignored", asset, block)
        return
    symbol = market.names.get(asset) or \
        (None if isinstance(sym, RpcError) else string_result(sym)) or asset
    market.reserves[asset] = Reserve(asset, symbol, word(data, 7), word_address(data, 8),
                                     word_address(data, 9), word_address(data, 10))
    if not isinstance(src, RpcError) and len(src) >= 66:
        await set_source(rpc, market, asset, word_address(src, 0), block)


async def set_source(rpc: Rpc, market: Market, asset: str, source: str, block: BlockRef) -> None:
    """Point `asset` at a new oracle source; the feed that emits AnswerUpdated is the source
    itself or, for a Chainlink proxy, the aggregator behind it."""
    asset, source = asset.lower(), source.lower()
    old = market.sources.pop(asset, None)
    if old is not None:
        for assets in market.feeds.values():
            assets.discard(asset)
        market.feeds = {f: a for f, a in market.feeds.items() if a}
    if source == ZERO:
        return
    market.sources[asset] = source
    feeds = {source}
    try:
        behind = await rpc.call(*eth_call(source, SEL["aggregator"], block))
    except RpcError:
        behind = None
    if behind and len(behind) == 66 and word_address(behind, 0) != ZERO:
        feeds.add(word_address(behind, 0))
    for feed in feeds:
        market.feeds.setdefault(feed, set()).add(asset)
