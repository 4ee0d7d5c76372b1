"""Morpho Blue's markets as the adapter knows them: each market's immutable params (tokens,
oracle, IRM, LLTV), its tokens' wire names and decimals, and the discovery of every market
created up to a block (Morpho keeps no list: CreateMarket logs are the only index)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from monitor.sources.evm.abi import encode_call, selector, word, word_address
from monitor.sources.evm.decoder import DecodedLog, decode_log
from monitor.sources.evm.jsonrpc import BlockRef, RpcError, eth_call
from monitor.sources.evm.logs import LogFilter, RangeSizer, fetch_logs
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.tokens import Token, read_tokens
from monitor.sources.morpho_blue.events import SPECS

log = logging.getLogger(__name__)

ZERO = "0x" + "0" * 40
CREATE_MARKET = next(spec.topic0 for spec in SPECS.values() if spec.name == "CreateMarket")
PARAMS = selector("idToMarketParams(bytes32)")


@dataclass(frozen=True)
class MarketParams:
    """A market's MarketParams: loan and collateral tokens, oracle, IRM and LLTV (wad)."""

    loan_token: str
    collateral_token: str
    oracle: str  # price() of one collateral unit in loan units, scaled by 1e36
    irm: str  # the interest rate model
    lltv: int

    def words(self) -> tuple[str, str, str, str, int]:
        """The struct as ABI words, in order (a static tuple is encoded in place)."""
        return self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv

    def id(self) -> str:
        """The market id: keccak256(abi.encode(marketParams)) (MarketParamsLib.id)."""
        encoded = encode(["address", "address", "address", "address", "uint256"], self.words())
        return "0x" + keccak(encoded).hex()

    @classmethod
    def from_log(cls, decoded: DecodedLog) -> MarketParams:
        """The params a CreateMarket log carries."""
        args = decoded.args
        return cls(args["loanToken"], args["collateralToken"], args["oracle"], args["irm"],
                   args["lltv"])


@dataclass(frozen=True)
class Market:
    """One isolated market: its id, params and tokens."""

    id: str
    params: MarketParams
    loan: Token
    collateral: Token


async def open_markets(rpc: Rpc, params: Mapping[str, MarketParams], block: BlockRef,
                       names: Mapping[str, str]) -> list[Market]:
    """Markets from their params, their tokens read at `block`."""
    addresses = sorted({a for p in params.values() for a in (p.loan_token, p.collateral_token)})
    tokens = await read_tokens(rpc, addresses, block, names) if addresses else {}
    return [Market(market_id, p, tokens[p.loan_token], tokens[p.collateral_token])
            for market_id, p in params.items()]


async def read_params(rpc: Rpc, morpho: str, ids: Sequence[str],
                      block: BlockRef) -> dict[str, MarketParams]:
    """idToMarketParams of each id at `block` (ids of markets not created yet are left out)."""
    answers = await rpc.batch([eth_call(morpho, encode_call(PARAMS, i), block)
                               for i in ids])
    found = {}
    for market_id, answer in zip(ids, answers, strict=True):
        if isinstance(answer, RpcError) or len(answer) < 2 + 5 * 64:
            log.warning("market %s unreadable at %s: %s", market_id, block, answer)
            continue
        params = MarketParams(word_address(answer, 0), word_address(answer, 1),
                              word_address(answer, 2), word_address(answer, 3), word(answer, 4))
        if params.loan_token != ZERO:
            found[market_id] = params
    return found


async def created_markets(rpc: Rpc, morpho: str, block: int) -> dict[str, MarketParams]:
    """Every market created up to `block`, from CreateMarket logs: the whole span in one call
    where the provider allows it, in the ranges it accepts otherwise."""
    flt = LogFilter((morpho,), (CREATE_MARKET,))
    sizer = RangeSizer(span=block + 1, maximum=block + 1)
    found: dict[str, MarketParams] = {}
    start = 0
    while start <= block:
        end, raw = await fetch_logs(rpc, flt, start, block, sizer)
        for entry in raw:
            decoded = decode_log(entry, SPECS)
            if decoded is not None:
                found[decoded.args["id"]] = MarketParams.from_log(decoded)
        start = end + 1
    return found
