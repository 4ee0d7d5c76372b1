"""The placement hop: every producer's record on `positions` validated and forwarded to the
partition of the internal topic the app's hash places it on, by a plain aiokafka consumer in
the worker instead of a Faust agent (Faust's per-event cost, paid once per producer record,
was the positions path's ceiling; the keeper pays it once per packed record).

Placement is stateless, so all it needs is at-least-once delivery and per-key order. It reads
`positions` in its own consumer group (`{app_id}-placement`) at most PLACE_BATCH records at a
time, sends each target partition its snapshots packed (pack()) and each rejected record to
the dead letters, awaits all of it and only then commits the batch's offsets; a producer
partition is read in order and a batch is delivered before the next is read, so a key's
snapshots stay in order. Before partitions are revoked in a rebalance, the batch in flight is
finished and committed (the rebalance listener waits for it). Anything that fails before the
commit (a broker error, a crash) redelivers the batch: harmless, since the keeper applies only
newer versions (a redelivered rejected record is dead-lettered again). A broker error is
logged and the consumer restarted after RETRY_S; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from monitor.stream.agent import Counted, oversized
from monitor.stream.context import Context
from monitor.stream.tansu import TANSU_FETCH_MAX_WAIT_MS
from monitor.wire import POSITIONS, Rejected, bootstrap_servers

log = logging.getLogger(__name__)
GROUP: Final = "placement"  # consumer group suffix
PLACE_BATCH: Final = 4000  # most records placed at once
PACK_BYTES: Final = 256 * 1024  # most snapshot bytes in one internal record
KAFKA_FETCH_MAX_WAIT_MS: Final = 500  # Kafka answers a waiting Fetch once a record arrives
IDLE_POLL_MS: Final = 1000  # getmany returns at once when records are there
RETRY_S: Final = 1.0  # pause before a failed consumer is restarted
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Validate = Callable[[bytes | None, bytes | None], str]  # a valid record's position id
ForwardAll = Callable[[dict[int, list[bytes]]], Awaitable[None]]


def pack(raws: Sequence[bytes], limit: int = PACK_BYTES) -> Iterator[bytes]:
    """Validated snapshots (JSON objects) as JSON arrays of at most `limit` bytes each (a
    larger snapshot travels alone)."""
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        if batch and size + len(raw) > limit:
            yield b"[" + b",".join(batch) + b"]"
            batch, size = [], 0
        batch.append(raw)
        size += len(raw) + 1
    if batch:
        yield b"[" + b",".join(batch) + b"]"


class _Handover(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Partitions are revoked only once the batch in flight is forwarded and committed."""

    def __init__(self, turn: asyncio.Lock) -> None:
        self.turn = turn

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Wait for the batch in flight (it commits its own offsets)."""
        async with self.turn:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Nothing to set up: placement keeps no state."""


class Placement:
    """The placement consumer of one worker; `validate` raises Rejected for a record that
    cannot be used, `forward` sends each partition its snapshots and returns once delivered."""

    def __init__(self, ctx: Context, validate: Validate, forward: ForwardAll) -> None:
        self.ctx, self.validate, self.forward = ctx, validate, forward
        self.source = ctx.topic(POSITIONS)  # declared through the app like every topic
        self.counted = Counted(ctx, POSITIONS)
        self.limits = ctx.settings.limits
        self.turn = asyncio.Lock()  # a batch, or a revocation waiting for it
        ctx.app.task(self.run)  # app tasks start once the app is ready

    async def run(self) -> None:
        """Place records until the worker stops; a failed consumer is restarted."""
        await self.source.maybe_declare()
        while True:
            try:
                await self._consume()
            except Exception:  # a broker hiccup: the uncommitted batch is read again
                log.exception("placement consumer failed: restarting in %.1f s", RETRY_S)
                await asyncio.sleep(RETRY_S)

    def _consumer(self) -> AIOKafkaConsumer:
        """A consumer in the placement group, committing only what was forwarded."""
        settings = self.ctx.settings
        tansu = settings.broker_flavor == "tansu"  # Tansu holds a Fetch its whole max wait
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings.broker),
            group_id=self.ctx.internal(GROUP),
            client_id=self.ctx.internal(GROUP),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=TANSU_FETCH_MAX_WAIT_MS if tansu else KAFKA_FETCH_MAX_WAIT_MS,
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
            rebalance_timeout_ms=int(settings.rebalance_timeout * 1000))

    async def _consume(self) -> None:
        """Read, place and commit batch after batch."""
        consumer = self._consumer()
        await consumer.start()
        try:
            consumer.subscribe([POSITIONS], listener=_Handover(self.turn))
            while True:
                fetched = await consumer.getmany(timeout_ms=IDLE_POLL_MS,
                                                 max_records=PLACE_BATCH)
                if not fetched:
                    continue
                async with self.turn:
                    await self.place([r for records in fetched.values() for r in records])
                    await consumer.commit({tp: records[-1].offset + 1
                                           for tp, records in fetched.items()})
        finally:
            await consumer.stop()

    async def place(self, records: Sequence[Record]) -> None:
        """Forward the valid records, dead-letter the others; return once all are written."""
        started = time.perf_counter()
        placed: dict[int, list[bytes]] = {}
        letters: list[Awaitable[Any]] = []
        for record in records:
            key, value = record.key, record.value
            try:
                too_big = oversized(key, value, self.limits)
                if too_big is not None:
                    raise too_big
                home = self.ctx.partition_of(self.validate(key, value))
            except Rejected as rejected:
                letters.append(self.ctx.dead_letters.reject_value(
                    POSITIONS, record.partition, record.offset, key, value, rejected))
                continue
            assert value is not None  # validate refuses a missing value
            placed.setdefault(home, []).append(value)
        await asyncio.gather(self.forward(placed), *letters)  # each awaited till written
        self.counted.count({"forwarded": len(records) - len(letters)})
        self.counted.timed([record.timestamp / 1000 for record in records], started)
