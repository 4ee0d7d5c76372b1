"""The Aave V3 ingester: backfill, follow the head, survive reorgs and restarts.

Each step takes the next block range the provider accepts, decodes the pool, aToken,
configurator, oracle and feed logs in chain order, re-reads every touched account at the
block of its last event (version = that event's (block, log index)), publishes snapshots and
price updates, waits for delivery, then atomically advances the checkpoint. A changed hash
among recent blocks rewinds to the fork point; what the orphaned blocks touched (their events
and their own re-reads) is re-read once the new chain is longer than the block that touched it,
with version (block, END_OF_BLOCK), so it beats every version the orphaned branch carried; a step
that fails while publishing leaves what it touched to be re-read the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.chain.checkpoint import Checkpoint, RecentBlock, load_checkpoint, save_checkpoint
from monitor.chain.events import (
    ACCOUNT_ARGS,
    CONFIG_CHANGES,
    TOPICS,
    DecodedLog,
    LogDecodeError,
    affected_accounts,
    decode_log,
)
from monitor.chain.logs import LogFilter, RangeSizer, fetch_logs, sort_logs
from monitor.chain.positions_reader import ReadRequest, read_positions
from monitor.chain.prices_reader import read_prices, updates_from_answer
from monitor.chain.publisher import POSITIONS_TOPIC, PRICES_TOPIC, Sink
from monitor.chain.reserves import (
    Market,
    add_reserve,
    block_ref,
    discover,
    load_reserves,
    set_source,
)
from monitor.chain.rpc import TRANSIENT, Rpc, RpcError

log = logging.getLogger(__name__)

END_OF_BLOCK = 2**31 - 1  # log index of a re-read that stands for the whole block's end state
MAINNET_CONFIRMATIONS = 12


class ReorgDuringStep(RuntimeError):
    """Logs and headers of one step disagree: the chain moved under us; retry the step."""


@dataclass
class IngestConfig:
    """What to ingest and how."""

    pool: str
    from_block: int = 0
    confirmations: int = MAINNET_CONFIRMATIONS
    checkpoint: Path | None = None
    once: bool = False
    poll_interval: float = 1.0
    reorg_window: int = 64
    read_chunk: int = 100
    read_concurrency: int = 4
    max_range: int = 2_000
    names: Mapping[str, str] = field(default_factory=dict)


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
    """What one block range produced before reading the chain."""

    end: int
    reads: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # acct -> blk, idx, hash
    prices: list[dict[str, Any]] = field(default_factory=list)
    price_reads: list[tuple[str, int, int, str]] = field(default_factory=list)
    accounts_at: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    assets_at: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    hashes: dict[int, str] = field(default_factory=dict)


class Ingester:
    """Follows one Aave V3 pool and publishes its positions and oracle prices."""

    def __init__(self, rpc: Rpc, sink: Sink, config: IngestConfig,
                 progress: Callable[[Stats], None] | None = None) -> None:
        self.rpc = rpc
        self.sink = sink
        self.config = config
        self.progress = progress
        self.stats = Stats()
        self.sizer = RangeSizer(span=min(config.max_range, 2_000), maximum=config.max_range)
        self.known: set[str] = set()
        self.chain_id = 0
        self.market: Market | None = None
        self.cp: Checkpoint | None = None

    async def run(self, stop: asyncio.Event | None = None) -> Stats:
        """Ingest until `stop` is set (or, with once, until the confirmed head is reached)."""
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
            raise RuntimeError("ingester not started")
        return self.cp

    def _market(self) -> Market:
        """The market registry (set by _start)."""
        if self.market is None:
            raise RuntimeError("ingester not started")
        return self.market

    async def _start(self) -> None:
        """Resume from the checkpoint or start fresh, and load the market at that block."""
        self.chain_id = await self.rpc.chain_id()
        self.market = await discover(self.rpc, self.config.pool, self.config.names)
        path = self.config.checkpoint
        loaded = load_checkpoint(path, self.chain_id, self.market.pool) if path else None
        self.cp = loaded or Checkpoint(self.chain_id, self.market.pool,
                                       max(self.config.from_block, 0) - 1)
        self.stats.block = self.cp.block
        if self.cp.block < 0:
            return
        header = await self._header(self.cp.block)
        await load_reserves(self.rpc, self.market, block_ref(header["hash"]))
        if loaded is None and self.market.reserves:
            await self._publish_prices(await read_prices(
                self.rpc, self.market, sorted(self.market.reserves), self.cp.block,
                header["hash"], (self.cp.block, END_OF_BLOCK), float(int(header["timestamp"], 16))))
            await self.sink.flush()
        log.info("ingest: chain %d pool %s, %d reserves, resuming after block %d",
                 self.chain_id, self.market.pool, len(self.market.reserves), self.cp.block)

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
        for b in dropped:
            for account in b.accounts:
                cp.pending_accounts[account] = max(cp.pending_accounts.get(account, 0),
                                                   b.number + 1)
            for asset in b.assets:
                cp.pending_assets[asset] = max(cp.pending_assets.get(asset, 0), b.number + 1)
        self.stats.reorgs += 1
        self.stats.block = fork
        log.warning("reorg: blocks %d..%d replaced; rewound to %d, %d accounts and %d assets to "
                    "re-emit", fork + 1, dropped[-1].number if dropped else fork,
                    fork, len(cp.pending_accounts), len(cp.pending_assets))
        market = self._market()
        fork_ref = block_ref(cp.recent[-1].hash) if cp.recent else hex(fork)
        await load_reserves(self.rpc, market, fork_ref)
        if self.config.checkpoint:
            save_checkpoint(self.config.checkpoint, cp)

    async def _step(self, start: int, target: int) -> None:
        """Process the next block range starting at `start`."""
        market = self._market()
        flt = LogFilter(market.watched(), TOPICS)
        end, raw = await fetch_logs(self.rpc, flt, start, target, self.sizer)
        step = _Step(end)
        for entry in sort_logs(raw):
            try:
                decoded = decode_log(entry)
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
            if await self._apply(step, decoded):
                step.end = decoded.block  # the watched set changed: refetch after this block
        await self._finish(start, step)

    async def _apply(self, step: _Step, d: DecodedLog) -> bool:
        """Route one decoded log; True when it changed which contracts are watched."""
        market = self._market()
        if d.event in ACCOUNT_ARGS:
            if d.address != market.pool and d.address not in market.a_tokens():
                return False
            for account in affected_accounts(d):
                self._touch(step, account, d)
            return False
        if d.address == market.configurator:
            if d.event == "ReserveInitialized":
                await add_reserve(self.rpc, market, d.args["asset"], block_ref(d.block_hash))
                self._price_read(step, d.args["asset"], d)
                return True
            if d.event == "ReserveDropped":
                market.reserves.pop(d.args["asset"], None)
            if d.event in CONFIG_CHANGES or d.event == "ReserveDropped":
                for account in sorted(self.known):
                    self._touch(step, account, d)
            return False
        if d.address == market.oracle and d.event == "AssetSourceUpdated":
            await set_source(self.rpc, market, d.args["asset"], d.args["source"],
                             block_ref(d.block_hash))
            if d.args["asset"] in market.reserves:
                self._price_read(step, d.args["asset"], d)
            return True
        if d.event == "AnswerUpdated" and d.address in market.feeds:
            updates = updates_from_answer(market, d)
            step.prices.extend(updates)
            step.assets_at[d.block].update(market.feeds[d.address])
        return False

    def _touch(self, step: _Step, account: str, d: DecodedLog) -> None:
        """Mark an account for a re-read at this log's block, versioned by this log."""
        self.known.add(account)
        step.reads[account] = (d.block, d.log_index, d.block_hash)
        step.accounts_at[d.block].add(account)

    def _price_read(self, step: _Step, asset: str, d: DecodedLog) -> None:
        """Mark an asset for an oracle read at this log's block."""
        step.price_reads.append((asset, d.block, d.log_index, d.block_hash))
        step.assets_at[d.block].add(asset)

    async def _finish(self, start: int, step: _Step) -> None:
        """Read the chain for what the range touched, publish, then advance the checkpoint."""
        cp, market = self._checkpoint(), self._market()
        window = range(max(start, step.end - self.config.reorg_window + 1), step.end + 1)
        wanted = sorted({*window, *(b for b, _, _ in step.reads.values()),
                         *(b for _, b, _, _ in step.price_reads)})
        answers = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                        for n in wanted])
        headers: dict[int, dict[str, Any]] = {}
        for n, h in zip(wanted, answers, strict=True):
            if not isinstance(h, dict) or (n in step.hashes and h.get("hash") != step.hashes[n]):
                raise ReorgDuringStep(f"block {n} changed while reading blocks {start}..{step.end}")
            headers[n] = h
        end_hash = str(headers[step.end]["hash"])
        accounts = [a for a, threshold in cp.pending_accounts.items() if threshold <= step.end]
        assets = [a for a, threshold in cp.pending_assets.items()
                  if threshold <= step.end and a in market.reserves]
        for account in accounts:
            step.reads[account] = (step.end, END_OF_BLOCK, end_hash)
            step.accounts_at[step.end].add(account)
        for asset in assets:
            step.price_reads.append((asset, step.end, END_OF_BLOCK, end_hash))
            step.assets_at[step.end].add(asset)

        try:
            await self._publish_prices(step.prices)
            for asset, block, index, bhash in step.price_reads:
                ts = float(int(headers[block]["timestamp"], 16))
                await self._publish_prices(await read_prices(self.rpc, market, [asset], block,
                                                             bhash, (block, index), ts))
            requests = [ReadRequest(account, block, bhash,
                                    float(int(headers[block]["timestamp"], 16)), (block, index))
                        for account, (block, index, bhash) in sorted(step.reads.items())]
            await self._read_and_publish(requests)
            await self.sink.flush()
        except BaseException:
            self._reread_later(step)
            raise
        for account in accounts:
            del cp.pending_accounts[account]
        for asset in assets:
            del cp.pending_assets[asset]

        cp.record([RecentBlock(n, str(headers[n]["hash"]), sorted(step.accounts_at.get(n, ())),
                               sorted(step.assets_at.get(n, ()))) for n in window],
                  self.config.reorg_window)
        cp.block = step.end
        if self.config.checkpoint:
            save_checkpoint(self.config.checkpoint, cp)
        self.stats.blocks += step.end - start + 1
        self.stats.block = step.end

    def _reread_later(self, step: _Step) -> None:
        """After a step failed while publishing: re-read everything it touched once the chain
        passes its end, so nothing it sent from a branch being replaced outlives that branch."""
        cp = self._checkpoint()
        for accounts in step.accounts_at.values():
            for account in accounts:
                cp.pending_accounts[account] = max(cp.pending_accounts.get(account, 0),
                                                   step.end + 1)
        for assets in step.assets_at.values():
            for asset in assets:
                cp.pending_assets[asset] = max(cp.pending_assets.get(asset, 0), step.end + 1)

    async def _read_and_publish(self, requests: list[ReadRequest]) -> None:
        """Read positions in concurrent chunks and publish each snapshot."""
        market = self._market()
        gate = asyncio.Semaphore(self.config.read_concurrency)
        chunk = self.config.read_chunk

        async def one(part: list[ReadRequest]) -> list[dict[str, Any]]:
            """Read one chunk, at most read_concurrency at a time."""
            async with gate:
                return await read_positions(self.rpc, market, self.chain_id, part)

        parts = [requests[i:i + chunk] for i in range(0, len(requests), chunk)]
        for snapshots in await asyncio.gather(*(one(p) for p in parts)):
            for snap in snapshots:
                await self.sink.send(POSITIONS_TOPIC, snap["position_id"], snap)
            self.stats.snapshots += len(snapshots)

    async def _publish_prices(self, updates: list[dict[str, Any]]) -> None:
        """Publish price updates keyed by asset."""
        for update in updates:
            await self.sink.send(PRICES_TOPIC, update["asset"], update)
        self.stats.prices += len(updates)


__all__ = ["END_OF_BLOCK", "IngestConfig", "Ingester", "Stats"]
