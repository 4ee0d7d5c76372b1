"""Uniswap v2 pairs as the source knows them: tokens, decimals and wire names, found from the
factory (every pair, or those listed), and their reserves read at pinned blocks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.sources.evm.abi import encode_call, selector, word, word_address
from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.jsonrpc import BlockRef, RpcError, block_ref, check, eth_call
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.tokens import Token, read_tokens
from monitor.wire import PoolReserves

log = logging.getLogger(__name__)

PROTOCOL: Final = "uniswap-v2"
FEE: Final = 0.003  # every v2 pair keeps 0.3 % of what it is sold
ALL_PAIRS_LENGTH, ALL_PAIRS = selector("allPairsLength()"), selector("allPairs(uint256)")
TOKEN0, TOKEN1 = selector("token0()"), selector("token1()")
GET_RESERVES = selector("getReserves()")


@dataclass(frozen=True)
class Pair:
    """A followed pair and its two tokens in the pair's order."""

    address: str
    token0: Token
    token1: Token

    def reserves(self, raw: str, version: tuple[int, int], timestamp: float) -> WireRecord:
        """The wire record of getReserves()'s answer."""
        return PoolReserves(self.address, PROTOCOL, (self.token0.name, self.token1.name),
                            (word(raw, 0) / 10 ** self.token0.decimals,
                             word(raw, 1) / 10 ** self.token1.decimals),
                            FEE, version, timestamp).to_dict()


async def pair_addresses(rpc: Rpc, factory: str, block: BlockRef) -> list[str]:
    """Every pair the factory created by `block`."""
    count = word(check((await rpc.batch([eth_call(factory, ALL_PAIRS_LENGTH, block)]))[0]), 0)
    answers = await rpc.batch([eth_call(factory, encode_call(ALL_PAIRS, i), block)
                               for i in range(count)])
    return [word_address(check(a), 0) for a in answers]


async def load_pairs(rpc: Rpc, addresses: Sequence[str], names: Mapping[str, str],
                     block: BlockRef) -> dict[str, Pair]:
    """Each pair's tokens at `block`, named by `names` (address -> wire name) or their symbol."""
    sides = await rpc.batch([eth_call(a, sel, block) for a in addresses for sel in (TOKEN0,
                                                                                   TOKEN1)])
    known = await read_tokens(rpc, sorted({word_address(check(s), 0) for s in sides}), block,
                              names)
    return {a: Pair(a, known[word_address(check(sides[2 * i]), 0)],
                    known[word_address(check(sides[2 * i + 1]), 0)])
            for i, a in enumerate(addresses)}


async def read_reserves(rpc: Rpc, pairs: Mapping[str, Pair], reads: Sequence[Read]
                        ) -> list[WireRecord]:
    """Each pair's reserves at its pinned block, one record per pair and block (the newest
    version: every read of a block's end sees the same reserves); unknown or failing pairs
    are logged and left out."""
    newest: dict[tuple[str, str], Read] = {}
    for read in reads:
        if read.key not in pairs:
            log.warning("%s is not a followed Uniswap v2 pair", read.key)
            continue
        held = newest.get((read.key, read.block_hash))
        if held is None or read.version > held.version:
            newest[(read.key, read.block_hash)] = read
    wanted = sorted(newest.values(), key=lambda r: r.version)
    answers = await rpc.batch([eth_call(r.key, GET_RESERVES, block_ref(r.block_hash))
                               for r in wanted])
    records = []
    for read, answer in zip(wanted, answers, strict=True):
        if answer == "0x":  # not deployed yet at that block (a fresh start reads every pair)
            log.debug("pair %s does not exist at block %d", read.key, read.block)
            continue
        if isinstance(answer, RpcError) or len(answer) < 2 + 3 * 64:
            log.warning("pair %s has no reserves at block %d: %s", read.key, read.block, answer)
            continue
        records.append(pairs[read.key].reserves(answer, read.version, read.timestamp))
    return records
