"""The protocols a follower can drive, by the name `monitor ingest --protocol` takes (lending
protocols, and Uniswap v2 pairs as a source of market depth). Adding a protocol is its folder
under monitor/sources and one entry in ADAPTERS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from monitor.sources.aave_v3.adapter import open_aave_v3
from monitor.sources.evm.adapter import Adapter, AdapterFactory, SourceConfig
from monitor.sources.evm.rpc import Rpc
from monitor.sources.morpho_blue.adapter import open_morpho_blue
from monitor.sources.uniswap_v2.adapter import open_uniswap_v2

ADAPTERS: Final[Mapping[str, AdapterFactory]] = {
    "aave-v3": open_aave_v3,
    "morpho-blue": open_morpho_blue,
    "uniswap-v2": open_uniswap_v2,
}


async def open_adapters(rpc: Rpc, sources: Sequence[SourceConfig]) -> list[Adapter]:
    """The adapter of each source on the chain `rpc` is connected to (ValueError for a protocol
    not in ADAPTERS)."""
    chain_id = await rpc.chain_id()
    adapters = []
    for source in sources:
        factory = ADAPTERS.get(source.protocol)
        if factory is None:
            raise ValueError(f"unknown protocol {source.protocol!r}; known: "
                             f"{', '.join(sorted(ADAPTERS))}")
        adapters.append(await factory(rpc, chain_id, source))
    return adapters
