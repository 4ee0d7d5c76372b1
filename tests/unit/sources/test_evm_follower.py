"""One follower driving two adapters on an in-memory chain: each adapter gets the logs of the
contracts it watches (a shared contract reaches both), the checkpoint names both sources, and
after a reorg each adapter re-reads only what its own orphaned blocks touched."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode

from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.checkpoint import CheckpointError, load_checkpoint
from monitor.sources.evm.decoder import DecodedLog, EventSpec, event_spec, spec_table
from monitor.sources.evm.follower import FollowConfig, Follower
from monitor.sources.evm.jsonrpc import BlockRef, RpcError
from monitor.sources.evm.rpc import Backoff, Rpc
from monitor.sources.evm.touches import END_OF_BLOCK, Touches
from monitor.wire import PRICES

CHAIN_ID = 7
MOVED = event_spec("Moved(address indexed account, uint256 amount)")
ANSWER = event_spec("Answer(int256 indexed current)")
LEDGER_A, LEDGER_B, FEED, SHARED = ("0x" + c * 40 for c in "abcd")
ALICE, BOB, CAROL = ("0x" + c * 40 for c in "123")


class FakeNode(Rpc):
    """A chain in memory: blocks of (address, topics, data) logs; eth_getLogs filters by
    address and topic0 as nodes do."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", backoff=Backoff(base=0.0))
        self.blocks: list[tuple[str, list[tuple[str, list[str], str]]]] = []

    def mine(self, *logs: tuple[str, list[str], str], branch: int = 1) -> int:
        """Append a block with these logs; its number."""
        number = len(self.blocks)
        self.blocks.append((f"0x{branch:02x}{number:062x}", list(logs)))
        return number

    async def call(self, method: str, params: Sequence[Any]) -> Any:
        """The few methods a follower uses."""
        if method == "eth_chainId":
            return hex(CHAIN_ID)
        if method == "eth_blockNumber":
            return hex(len(self.blocks) - 1)
        if method == "eth_getBlockByNumber":
            number = int(params[0], 16)
            if number >= len(self.blocks):
                return None
            return {"number": hex(number), "hash": self.blocks[number][0],
                    "timestamp": hex(1_000 + number)}
        if method == "eth_getLogs":
            flt = params[0]
            found = []
            for number in range(int(flt["fromBlock"], 16), int(flt["toBlock"], 16) + 1):
                block_hash, logs = self.blocks[number]
                for index, (address, topics, data) in enumerate(logs):
                    if address in flt["address"] and topics[0] in flt["topics"][0]:
                        found.append({"address": address, "topics": topics, "data": data,
                                      "blockNumber": hex(number), "blockHash": block_hash,
                                      "logIndex": hex(index)})
            return found
        raise RpcError(-32601, f"{method} not supported")

    async def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]
                    ) -> list[Any | RpcError]:
        """Each request in turn."""
        return [await self.call(method, params) for method, params in requests]


def moved(address: str, account: str, amount: int) -> tuple[str, list[str], str]:
    """A Moved log of `address`."""
    return (address, [MOVED.topic0, "0x" + encode(["address"], [account]).hex()],
            "0x" + encode(["uint256"], [amount]).hex())


def answer(address: str, value: int) -> tuple[str, list[str], str]:
    """An Answer log of `address`."""
    return (address, [ANSWER.topic0, "0x" + encode(["int256"], [value]).hex()], "0x")


@dataclass
class Ledger:
    """A toy protocol: Moved re-reads the account; Answer publishes a price and reads it."""

    name: str
    watched: tuple[str, ...]
    events: Mapping[str, EventSpec] = field(default_factory=lambda: spec_table([MOVED, ANSWER]))
    loads: list[BlockRef] = field(default_factory=list)
    quotes: dict[int, float] = field(default_factory=dict)  # a polled price, by the block it moves
    topic: str = PRICES

    @property
    def key(self) -> str:
        """The source's name in checkpoints."""
        return f"ledger:{self.name}"

    def addresses(self) -> Collection[str]:
        """The contracts it watches."""
        return self.watched

    def assets(self) -> Collection[str]:
        """One asset per ledger, and its quote when it has one."""
        return (f"{self.name}-asset", *self.polled())

    def polled(self) -> Collection[str]:
        """The quote, when the ledger has one: it moves without a log."""
        return (f"{self.name}-quote",) if self.quotes else ()

    async def load(self, block: BlockRef) -> None:
        """Nothing to load; remembered."""
        self.loads.append(block)

    async def route(self, log: DecodedLog, touches: Touches) -> bool:
        """Moved: re-read the account; Answer: a price from the log and a read of it."""
        if log.event == "Moved":
            touches.position(log.args["account"], log)
        else:
            asset = f"{self.name}-asset"
            touches.price_updates([{"asset": asset, "price": float(log.args["current"]),
                                    "version": [log.block, log.log_index]}], [asset], log)
        return False

    async def read_positions(self, reads: Sequence[Read]) -> list[WireRecord]:
        """A record naming the source, the account and where it was read."""
        return [{"position_id": f"{self.key}:{r.key}", "version": list(r.version),
                 "timestamp": r.timestamp} for r in reads]

    async def read_prices(self, reads: Sequence[Read]) -> list[WireRecord]:
        """The quote as of each read's block; a fixed price for the asset."""
        return [{"asset": r.key, "version": list(r.version),
                 "price": max(((b, q) for b, q in self.quotes.items() if b <= r.block),
                              default=(0, 1.0))[1] if r.key.endswith("-quote") else 1.0}
                for r in reads]


class Collect:
    """An in-memory sink."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Keep the record."""
        self.records.append((topic, key, value))

    async def flush(self) -> None:
        """Nothing queued."""


def follow(node: FakeNode, adapters: list[Ledger], checkpoint: Path,
           max_range: int = 2_000) -> Collect:
    """One --once run from block 0; what it published."""
    sink = Collect()
    config = FollowConfig(confirmations=0, checkpoint=checkpoint, once=True, reorg_window=8,
                          max_range=max_range)
    asyncio.run(Follower(node, sink, adapters, config).run())
    return sink


def positions(sink: Collect) -> dict[str, list[int]]:
    """position id -> version published."""
    return {key: value["version"] for topic, key, value in sink.records if topic == "positions"}


def test_one_follower_drives_two_adapters_through_a_reorg(tmp_path: Path) -> None:
    node = FakeNode()
    node.mine()
    node.mine(moved(LEDGER_A, ALICE, 5), moved(LEDGER_B, BOB, 6), answer(FEED, 42))
    node.mine(moved(SHARED, CAROL, 7), moved(LEDGER_A, BOB, 8))
    a, b = Ledger("a", (LEDGER_A, SHARED)), Ledger("b", (LEDGER_B, FEED, SHARED))
    checkpoint = tmp_path / "cp.json"

    first = follow(node, [a, b], checkpoint)
    assert positions(first) == {
        f"ledger:a:{ALICE}": [1, 0], f"ledger:a:{BOB}": [2, 1], f"ledger:a:{CAROL}": [2, 0],
        f"ledger:b:{BOB}": [1, 1], f"ledger:b:{CAROL}": [2, 0]}
    assert [(k, v["version"]) for t, k, v in first.records if t == "prices"] == \
        [("b-asset", [1, 2])]
    assert load_checkpoint(checkpoint, CHAIN_ID, ["ledger:b", "ledger:a"]) is not None
    with pytest.raises(CheckpointError, match="sources"):
        load_checkpoint(checkpoint, CHAIN_ID, ["ledger:a"])

    del node.blocks[2:]  # block 2 is orphaned; the longer new branch touches nobody
    node.mine(branch=2)
    node.mine(branch=2)
    a, b = Ledger("a", a.watched), Ledger("b", b.watched)
    again = follow(node, [a, b], checkpoint)
    assert positions(again) == {  # each re-reads what it had read from the orphan, no more
        f"ledger:a:{BOB}": [3, END_OF_BLOCK], f"ledger:a:{CAROL}": [3, END_OF_BLOCK],
        f"ledger:b:{CAROL}": [3, END_OF_BLOCK]}
    assert a.loads[-1] == b.loads[-1] == {"blockHash": node.blocks[1][0]}  # reloaded at the fork
    cp = load_checkpoint(checkpoint, CHAIN_ID, ["ledger:a", "ledger:b"])
    assert cp is not None and cp.block == 3
    assert all(not p.accounts and not p.assets for p in cp.pending.values())


def test_adapters_must_be_distinct_and_agree_on_shared_topics() -> None:
    node = FakeNode()
    config = FollowConfig()
    with pytest.raises(ValueError, match="distinct"):
        Follower(node, Collect(), [Ledger("a", ()), Ledger("a", ())], config)
    other = event_spec("Moved(address indexed who, uint256 amount)")  # same topic0, other names
    with pytest.raises(ValueError, match="Moved"):
        Follower(node, Collect(), [Ledger("a", ()), Ledger("b", (), spec_table([other]))], config)


def quotes(sink: Collect) -> list[tuple[list[int], float]]:
    """(version, price) of every quote published, in order."""
    return [(v["version"], v["price"]) for t, k, v in sink.records
            if t == "prices" and k.endswith("-quote")]


def test_a_polled_price_is_published_when_it_moves_and_again_after_a_reorg(
        tmp_path: Path) -> None:
    node = FakeNode()
    for _ in range(4):
        node.mine()
    checkpoint = tmp_path / "cp.json"
    oracle = Ledger("c", (LEDGER_A,), quotes={0: 1.0, 2: 2.0})
    first = follow(node, [oracle], checkpoint, max_range=1)  # one step per block
    assert quotes(first) == [([0, END_OF_BLOCK], 1.0), ([2, END_OF_BLOCK], 2.0)]

    del node.blocks[2:]  # the move at block 2 is orphaned; the new branch keeps 1.0
    for _ in range(3):
        node.mine(branch=2)
    again = follow(node, [Ledger("c", (LEDGER_A,), quotes={0: 1.0})], checkpoint, max_range=1)
    assert quotes(again) == [([2, END_OF_BLOCK], 1.0),  # polled afresh after the rewind
                             ([3, END_OF_BLOCK], 1.0)]  # re-read past the orphan: beats its 2.0
