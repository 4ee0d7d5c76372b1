"""Follow one chain for several adapters: backfill, follow the head, survive reorgs and restarts.

Each step takes the next block range the provider accepts, decodes the watched logs in chain
order and routes each to the adapters watching its contract, re-reads every account an adapter
marked at the block of its last event (version = that event's (block, log index)), publishes
snapshots and price updates, waits for delivery, then atomically advances the checkpoint. A
changed hash among recent blocks rewinds to the fork point; what the orphaned blocks touched
(their events and their own re-reads) is re-read once the new chain is longer than the block that
touched it, with version (block, END_OF_BLOCK), so it beats every version the orphaned branch
carried; a step that fails while publishing leaves what it touched to be re-read the same way.
Prices that move without a log (an adapter's polled assets) are read at the end of every step
and published when they differ from the last value polled (forgotten on every load, so a resume
or a rewind publishes them again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.sources.evm.adapter import Adapter, Read, WireRecord
from monitor.sources.evm.checkpoint import (
    Checkpoint,
    RecentBlock,
    Touched,
    load_checkpoint,
    save_checkpoint,
)
from monitor.sources.evm.decoder import EventSpec, LogDecodeError, decode_log
from monitor.sources.evm.jsonrpc import BlockRef, RpcError, block_ref
from monitor.sources.evm.logs import LogFilter, RangeSizer, fetch_logs, sort_logs
from monitor.sources.evm.publisher import Sink
from monitor.sources.evm.rpc import TRANSIENT, Rpc
from monitor.sources.evm.touches import END_OF_BLOCK, ReadPoint, Touches
from monitor.wire import DEPTH, POSITIONS, PRICES

log = logging.getLogger(__name__)

MAINNET_CONFIRMATIONS = 12
RECORD_KEYS = {PRICES: "asset", DEPTH: "pool"}  # the field an adapter's records are keyed by
Headers = dict[int, dict[str, Any]]


class ReorgDuringStep(RuntimeError):
    """Logs and headers of one step disagree: the chain moved under us; retry the step."""


@dataclass
class FollowConfig:
    """Where to start, how far behind the head to stay, and how to pace the node."""

    from_block: int = 0
    confirmations: int = MAINNET_CONFIRMATIONS
    checkpoint: Path | None = None
    once: bool = False
    poll_interval: float = 1.0
    reorg_window: int = 64
    read_chunk: int = 100
    read_concurrency: int = 4
    max_range: int = 2_000


@dataclass
class Stats:
    """Counters for progress lines and the caller."""

    started: float = field(default_factory=time.monotonic)
    blocks: int = 0
    logs: int = 0
    bad_logs: int = 0
    snapshots: int = 0
    prices: int = 0
    reorgs: int = 0
    block: int = 0
    target: int = 0

    def line(self) -> str:
        """Progress: where we are, rates and the backfill's ETA."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        bps = self.blocks / elapsed
        left = max(self.target - self.block, 0)
        eta = f"{left / bps:,.0f}s" if bps > 0 else "?"
        return (f"ingest: block {self.block:,}/{self.target:,}, {bps:,.1f} blocks/s, "
                f"{self.logs / elapsed:,.1f} logs/s, {self.snapshots:,} snapshots, "
                f"{self.prices:,} prices, {self.reorgs} reorgs, {self.bad_logs} bad logs, "
                f"ETA {eta}")


@dataclass
class _Step:
    """What one block range produced before reading the chain, per adapter (by key)."""

    end: int
    touches: dict[str, Touches]
    hashes: dict[int, str] = field(default_factory=dict)


def merged_events(adapters: Sequence[Adapter]) -> dict[str, EventSpec]:
    """topic0 -> spec over every adapter; ValueError when two decode one topic differently."""
    specs: dict[str, EventSpec] = {}
    for adapter in adapters:
        for topic0, spec in adapter.events.items():
            if specs.setdefault(topic0, spec) != spec:
                raise ValueError(f"{adapter.key} decodes {spec.signature} unlike another source")
    return specs


class Follower:
    """Follows one chain and publishes the positions and prices of every adapter's market."""

    def __init__(self, rpc: Rpc, sink: Sink, adapters: Sequence[Adapter], config: FollowConfig,
                 progress: Callable[[Stats], None] | None = None) -> None:
        keys = [a.key for a in adapters]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError(f"a follower needs distinct sources, got {keys}")
        self.rpc = rpc
        self.sink = sink
        self.adapters = tuple(adapters)
        self.config = config
        self.progress = progress
        self.stats = Stats()
        self.sizer = RangeSizer(span=min(config.max_range, 2_000), maximum=config.max_range)
        self.specs = merged_events(self.adapters)
        self.cp: Checkpoint | None = None
        self.polled: dict[tuple[str, str], float] = {}  # (source, asset) -> last price polled

    async def run(self, stop: asyncio.Event | None = None) -> Stats:
        """Follow until `stop` is set (or, with once, until the confirmed head is reached)."""
        await self._start()
        last_report = 0.0
        while stop is None or not stop.is_set():
            try:
                done = await self._iteration(stop)
            except (ReorgDuringStep, RpcError, *TRANSIENT) as exc:
                moved = isinstance(exc, ReorgDuringStep) or (
                    isinstance(exc, RpcError) and await self._chain_moved(exc))
                if not moved and (self.config.once or
                                  (isinstance(exc, RpcError) and not exc.transient)):
                    raise
                log.warning("step failed (%s); %s", exc, "checking for a reorg" if moved
                            else "the node is unavailable, retrying")
                await self._sleep(stop)
                continue
            if done:
                break
            if self.progress and time.monotonic() - last_report >= 2.0:
                last_report = time.monotonic()
                self.progress(self.stats)
        if self.progress:
            self.progress(self.stats)
        return self.stats

    async def _chain_moved(self, exc: RpcError) -> bool:
        """Whether a failed call asked for a block the node no longer has: "not found" (geth,
        erigon), or any error once the head is below the range being processed (anvil answers
        a call pinned to a block that a revert removed with -32602 BlockOutOfRangeError)."""
        if "not found" in exc.message.lower():
            return True
        try:
            return await self.rpc.block_number() < self.stats.target
        except (RpcError, *TRANSIENT):
            return False

    async def _iteration(self, stop: asyncio.Event | None) -> bool:
        """Check for a reorg and process the next range; True when a --once run is done."""
        target = await self.rpc.block_number() - self.config.confirmations
        await self._check_reorg()
        cp = self._checkpoint()
        self.stats.target = max(target, cp.block)
        if cp.block >= target:
            if self.config.once:
                return True
            await self._sleep(stop)
            return False
        await self._step(cp.block + 1, target)
        return False

    async def _sleep(self, stop: asyncio.Event | None) -> None:
        """Wait a poll interval, returning early when stopped."""
        if stop is None:
            await asyncio.sleep(self.config.poll_interval)
            return
        try:
            await asyncio.wait_for(stop.wait(), self.config.poll_interval)
        except TimeoutError:
            return

    def _checkpoint(self) -> Checkpoint:
        """The checkpoint (set by _start)."""
        if self.cp is None:
            raise RuntimeError("follower not started")
        return self.cp

    async def _start(self) -> None:
        """Resume from the checkpoint or start fresh, and load every market at that block."""
        chain_id = await self.rpc.chain_id()
        keys = [a.key for a in self.adapters]
        path = self.config.checkpoint
        loaded = load_checkpoint(path, chain_id, keys) if path else None
        self.cp = loaded or Checkpoint(chain_id, tuple(keys), max(self.config.from_block, 0) - 1)
        self.stats.block = self.cp.block
        if self.cp.block < 0:
            return
        header = await self._header(self.cp.block)
        await self._load(block_ref(header["hash"]))
        if loaded is None:
            at = (self.cp.block, END_OF_BLOCK)
            for adapter in self.adapters:
                await self._publish_prices(adapter, await adapter.read_prices([
                    Read(asset, self.cp.block, header["hash"], _timestamp(header), at)
                    for asset in sorted(adapter.assets())]))
            await self.sink.flush()
        log.info("ingest: chain %d, %s; resuming after block %d", chain_id,
                 ", ".join(f"{a.key} ({len(a.assets())} assets)" for a in self.adapters),
                 self.cp.block)

    async def _load(self, block: BlockRef) -> None:
        """Every adapter's market state at `block`; polled prices will be published afresh."""
        self.polled.clear()
        for adapter in self.adapters:
            await adapter.load(block)

    async def _header(self, number: int) -> dict[str, Any]:
        """A block header by number; RpcError when the node does not have it."""
        header = await self.rpc.call("eth_getBlockByNumber", [hex(number), False])
        if not header:
            raise RpcError(-32001, f"block {number} not found")
        return dict(header)

    async def _check_reorg(self) -> None:
        """Compare the last processed block's hash with the chain; rewind to the fork point."""
        cp = self._checkpoint()
        if cp.hash is None:
            return
        header = await self.rpc.call("eth_getBlockByNumber", [hex(cp.block), False])
        if header and header.get("hash") == cp.hash:
            return
        answers = await self.rpc.batch([("eth_getBlockByNumber", [hex(b.number), False])
                                        for b in cp.recent])
        fork = cp.recent[0].number - 1
        for b, h in zip(cp.recent, answers, strict=True):
            if isinstance(h, dict) and h.get("hash") == b.hash:
                fork = b.number
        if fork < cp.recent[0].number:
            log.error("reorg deeper than the %d recent blocks kept; rewinding to block %d",
                      len(cp.recent), fork)
        dropped = cp.rewind(fork)
        self.stats.reorgs += 1
        self.stats.block = fork
        log.warning("reorg: blocks %d..%d replaced; rewound to %d, %d accounts and %d assets to "
                    "re-emit", fork + 1, dropped[-1].number if dropped else fork, fork,
                    sum(len(p.accounts) for p in cp.pending.values()),
                    sum(len(p.assets) for p in cp.pending.values()))
        await self._load(block_ref(cp.recent[-1].hash) if cp.recent else hex(fork))
        if self.config.checkpoint:
            save_checkpoint(self.config.checkpoint, cp)

    def _routes(self) -> dict[str, list[Adapter]]:
        """Contract address -> the adapters watching it."""
        routes: dict[str, list[Adapter]] = {}
        for adapter in self.adapters:
            for address in adapter.addresses():
                routes.setdefault(address, []).append(adapter)
        return routes

    async def _step(self, start: int, target: int) -> None:
        """Process the next block range starting at `start`."""
        routes = self._routes()
        flt = LogFilter(tuple(sorted(routes)), tuple(self.specs))
        end, raw = await fetch_logs(self.rpc, flt, start, target, self.sizer)
        step = _Step(end, {a.key: Touches() for a in self.adapters})
        for entry in sort_logs(raw):
            try:
                decoded = decode_log(entry, self.specs)
            except LogDecodeError as exc:
                self.stats.bad_logs += 1
                log.warning("skipped a malformed log at %s: %s", entry.get("blockNumber"), exc)
                continue
            if decoded is None:
                continue
            if decoded.block > step.end:
                break
            step.hashes[decoded.block] = decoded.block_hash
            self.stats.logs += 1
            topic0 = entry["topics"][0].lower()
            changed = False
            for adapter in routes.get(decoded.address, ()):
                if topic0 in adapter.events:
                    changed |= await adapter.route(decoded, step.touches[adapter.key])
            if changed:  # the watched set changed: refetch after this block
                step.end = decoded.block
                routes = self._routes()
        await self._finish(start, step)

    async def _finish(self, start: int, step: _Step) -> None:
        """Read the chain for what the range touched, publish, then advance the checkpoint."""
        cp = self._checkpoint()
        window = range(max(start, step.end - self.config.reorg_window + 1), step.end + 1)
        wanted = sorted(set(window).union(*(t.read_blocks() for t in step.touches.values())))
        answers = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                        for n in wanted])
        headers: Headers = {}
        for n, h in zip(wanted, answers, strict=True):
            if not isinstance(h, dict) or (n in step.hashes and h.get("hash") != step.hashes[n]):
                raise ReorgDuringStep(f"block {n} changed while reading blocks {start}..{step.end}")
            headers[n] = h
        end_hash = str(headers[step.end]["hash"])
        due: dict[str, Touched] = {}
        for adapter in self.adapters:
            pending = cp.pending_for(adapter.key).due(step.end)
            priced = adapter.assets()  # a pending asset no longer priced waits until it is again
            due[adapter.key] = Touched(pending.accounts, [a for a in pending.assets if a in priced])
            step.touches[adapter.key].reread(due[adapter.key], step.end, end_hash)
            step.touches[adapter.key].poll(adapter.polled(), step.end, end_hash)
        try:
            for adapter in self.adapters:
                await self._publish(adapter, step.touches[adapter.key], headers)
            await self.sink.flush()
        except BaseException:
            for key, touches in step.touches.items():
                cp.pending_for(key).add(touches.everything(), step.end + 1)
            raise
        for key, reread in due.items():
            cp.pending_for(key).done(reread)
        cp.record([RecentBlock(n, str(headers[n]["hash"]),
                               {key: touched for key, t in step.touches.items()
                                if (touched := t.touched(n)) is not None})
                   for n in window], self.config.reorg_window)
        cp.block = step.end
        if self.config.checkpoint:
            save_checkpoint(self.config.checkpoint, cp)
        self.stats.blocks += step.end - start + 1
        self.stats.block = step.end

    async def _publish(self, adapter: Adapter, touches: Touches, headers: Headers) -> None:
        """One adapter's step: prices its logs carried and polled prices that moved, price
        reads, then position re-reads."""
        if touches.polls:
            polled = await adapter.read_prices([_read(asset, point, headers)
                                                for asset, point in touches.polls])
            touches.polled_moved(self._moved(adapter.key, polled))
        await self._publish_prices(adapter, touches.prices)
        await self._publish_prices(adapter, await adapter.read_prices(
            [_read(asset, point, headers) for asset, point in touches.price_reads]))
        reads = [_read(account, point, headers)
                 for account, point in sorted(touches.positions.items())]
        gate = asyncio.Semaphore(self.config.read_concurrency)
        chunk = self.config.read_chunk

        async def one(part: list[Read]) -> list[WireRecord]:
            """Read one chunk, at most read_concurrency at a time."""
            async with gate:
                return await adapter.read_positions(part)

        parts = [reads[i:i + chunk] for i in range(0, len(reads), chunk)]
        for snapshots in await asyncio.gather(*(one(p) for p in parts)):
            for snap in snapshots:
                await self.sink.send(POSITIONS, snap["position_id"], snap)
            self.stats.snapshots += len(snapshots)

    def _moved(self, source: str, updates: list[WireRecord]) -> list[WireRecord]:
        """The polled updates whose price differs from the last one polled for their asset."""
        moved = [u for u in updates if self.polled.get((source, u["asset"])) != u["price"]]
        self.polled.update(((source, u["asset"]), u["price"]) for u in moved)
        return moved

    async def _publish_prices(self, adapter: Adapter, updates: list[WireRecord]) -> None:
        """Publish an adapter's price updates (keyed by asset) or pool reserves (by pool)."""
        key = RECORD_KEYS[adapter.topic]
        for update in updates:
            await self.sink.send(adapter.topic, update[key], update)
        self.stats.prices += len(updates)


def _timestamp(header: dict[str, Any]) -> float:
    """A block header's timestamp in seconds."""
    return float(int(header["timestamp"], 16))


def _read(key: str, point: ReadPoint, headers: Headers) -> Read:
    """The read of `key` at a read point, timestamped by its block."""
    return Read(key, point.block, point.block_hash, _timestamp(headers[point.block]),
                (point.block, point.log_index))
