"""The interface between the EVM follower and one protocol's market on the followed chain.

The follower owns ranges, reorgs, checkpoints and delivery; an adapter says which contracts and
events to watch, what each of its logs calls for, and reads positions and prices at pinned
blocks. Adding a protocol is one adapter folder under monitor/sources and one registry entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.sources.evm.decoder import DecodedLog, EventSpec
from monitor.sources.evm.jsonrpc import BlockRef
from monitor.sources.evm.rpc import Rpc
from monitor.sources.evm.touches import Touches
from monitor.wire import PRICES

WireRecord = dict[str, Any]  # a position snapshot, price update or pool reserves (monitor.wire)


@dataclass(frozen=True, slots=True)
class Read:
    """Read `key` (an account or an asset) at the end of `block`, pinned by its hash, and label
    what is read `version`."""

    key: str
    block: int
    block_hash: str
    timestamp: float
    version: tuple[int, int]


@dataclass(frozen=True)
class SourceConfig:
    """One source to follow: its protocol's registry name, the protocol's entry contract on the
    chain (e.g. the Aave pool), preferred wire names of asset addresses and, for a protocol of
    many markets (Morpho Blue), the market ids to follow (every market when empty)."""

    protocol: str
    address: str
    names: Mapping[str, str] = field(default_factory=dict)
    markets: tuple[str, ...] = ()


class Adapter(Protocol):
    """One protocol's market on the followed chain, as the follower drives it. Its "assets"
    are what it prices: reserves or markets published to `prices`, or, for a source of market
    depth (Uniswap v2), pools published to `depth` (the `topic` it names)."""

    topic: str  # where its asset records go: PRICES (key: asset) or DEPTH (key: pool)

    @property
    def key(self) -> str:
        """Names this source in checkpoints: protocol and entry contract ('aave-v3:0x…')."""
        ...

    @property
    def events(self) -> Mapping[str, EventSpec]:
        """topic0 -> spec of every event the adapter routes."""
        ...

    def addresses(self) -> Collection[str]:
        """The contracts whose logs the adapter routes, as of the last log routed."""
        ...

    def assets(self) -> Collection[str]:
        """The assets whose prices the adapter publishes (all read on a fresh start)."""
        ...

    def polled(self) -> Collection[str]:
        """The assets whose price moves without a log (an oracle that emits nothing): read at
        the end of every step, published when it moved."""
        ...

    async def load(self, block: BlockRef) -> None:
        """(Re)load the market state at `block`: on start, on resume and after a rewind."""
        ...

    async def route(self, log: DecodedLog, touches: Touches) -> bool:
        """Record in `touches` what one of its logs calls for; True when addresses() changed."""
        ...

    async def read_positions(self, reads: Sequence[Read]) -> list[WireRecord]:
        """The position snapshot of each account read."""
        ...

    async def read_prices(self, reads: Sequence[Read]) -> list[WireRecord]:
        """The price update of each asset read (those it cannot price are logged, left out)."""
        ...


class LendingSource:
    """What a lending protocol's adapter starts from: the node it reads, the chain id its
    position ids carry, and prices as the records of its assets."""

    topic: str = PRICES

    def __init__(self, rpc: Rpc, chain_id: int) -> None:
        self.rpc = rpc
        self.chain_id = chain_id


# Opens a source on a connected node: (rpc, chain id, its config) -> its adapter.
AdapterFactory = Callable[[Rpc, int, SourceConfig], Awaitable[Adapter]]
