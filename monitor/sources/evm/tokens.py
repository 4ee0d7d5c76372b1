"""ERC-20 tokens as a source names them on the wire: address, decimals and wire name, read in
one batch (the name configured for the address, else its symbol(), else the address)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.sources.evm.abi import selector, string_result, word
from monitor.sources.evm.jsonrpc import BlockRef, RpcError, eth_call
from monitor.sources.evm.rpc import Rpc

SYMBOL, DECIMALS = selector("symbol()"), selector("decimals()")


@dataclass(frozen=True)
class Token:
    """A token a market or pair holds: its address, wire name and decimals."""

    address: str
    name: str
    decimals: int


async def read_tokens(rpc: Rpc, addresses: Sequence[str], block: BlockRef,
                      names: Mapping[str, str]) -> dict[str, Token]:
    """Each token's wire name and decimals at `block`; ValueError for one without decimals()."""
    answers = await rpc.batch([eth_call(a, sel, block) for a in addresses
                               for sel in (SYMBOL, DECIMALS)])
    tokens = {}
    for i, address in enumerate(addresses):
        symbol, decimals = answers[2 * i], answers[2 * i + 1]
        if isinstance(decimals, RpcError) or len(decimals) < 66:
            raise ValueError(f"token {address} has no decimals() at {block}: {decimals}")
        name = names.get(address) or \
            (None if isinstance(symbol, RpcError) else string_result(symbol)) or address
        tokens[address] = Token(address, name, word(decimals, 0))
    return tokens
