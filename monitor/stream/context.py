"""What every feature of the stream shares: the Faust app, settings, metrics, the dead-letter
sink, how topics and tables are declared, where a key lives, and when the worker is ready.

Placement is the app's own: a key's partition is murmur2 of its UTF-8 bytes modulo the
partition count, computed here and nowhere else. The features send keyed records to that
partition explicitly and route queries by it, so what a producer outside the app chose never
decides where state lives or where a query goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import faust
from aiokafka.partitioner import murmur2
from faust.assignor import PartitionAssignor
from faust.sensors import Sensor
from faust.types import EventT, TopicT
from yarl import URL

from monitor.config import Settings
from monitor.stream.coalesce import Budget
from monitor.stream.deadletter import DeadLetters
from monitor.stream.metrics import Metrics
from monitor.wire import DEAD_LETTERS

PRODUCER_BUFFER: Final = 10_000
# RocksDB memory per table partition, bounded: Faust's defaults (a 2 GiB block cache and three
# 64 MiB write buffers per partition) let a recovered store hold more than its positions' books.
ROCKSDB_OPTIONS: Final = {"block_cache_size": 32 * 2**20, "write_buffer_size": 16 * 2**20,
                          "max_write_buffer_number": 2}


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key: Kafka's default (murmur2 of the UTF-8 bytes, sign bit off)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class _ReadySensor(Sensor):
    """Calls the context's readiness hooks when a rebalance (and its recovery) has ended."""

    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context

    def on_rebalance_end(self, app: faust.types.AppT, state: dict[str, Any]) -> None:
        """Every feature re-derives what it owns now."""
        for hook in self.context.ready_hooks:
            hook()


@dataclass
class Context:
    """The app and the shared services its features are built on."""

    app: faust.App
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    ready_hooks: list[Callable[[], None]] = field(default_factory=list)
    produced: set[str] = field(default_factory=set)  # every topic the app writes to

    def __post_init__(self) -> None:
        self.dead_letters = DeadLetters(self.topic(DEAD_LETTERS), self.metrics)
        self.budget = Budget(self.settings.recompute_share)  # every feature's background passes
        self.app.sensors.add(_ReadySensor(self))
        self.app.task(self._prepare_producer)

    async def _prepare_producer(self) -> None:
        """Size the producer's buffer and make its client track every topic the app writes.

        Faust's default buffer (100 messages) stalls a stream every few table writes under
        load. aiokafka keeps metadata only for the topics its client tracks once it tracks
        any: a topic it learnt from an earlier full refresh drops out at the next refresh,
        and a batch for it then waits for a leader until something sends to that topic again
        (the last batch of a burst would sit unsent)."""
        self.app.producer.buffer.max_messages = PRODUCER_BUFFER
        client = cast(Any, self.app.producer)._ensure_producer().client
        for name in sorted(self.produced):
            await client.add_topic(name)

    @property
    def partitions(self) -> int:
        """Partitions of every topic the app declares."""
        return self.settings.partitions

    def internal(self, suffix: str) -> str:
        """The name of an internal topic (prefixed with the app id)."""
        return f"{self.settings.app_id}-{suffix}"

    def topic(self, name: str) -> TopicT:
        """A topic with raw keys and values (the wire contracts are parsed by the features)."""
        self.produced.add(name)
        return self.app.topic(name, partitions=self.partitions, internal=True,
                              key_serializer="raw", value_serializer="raw")

    def table(self, name: str, *, global_: bool = False, raw_values: bool = False,
              by_key: bool = False,
              on_changelog_event: Callable[[EventT[Any]], Any] | None = None) -> Any:
        """A changelog-backed table with raw UTF-8 keys (JSON values unless `raw_values`).
        Faust writes a change to the partition of the event being processed; a table written
        outside any stream's iteration (`by_key`) writes it to partition_of(key) instead."""
        options: dict[str, Any] = {"partitions": self.partitions, "key_type": str,
                                   "on_changelog_event": on_changelog_event,
                                   "options": dict(ROCKSDB_OPTIONS)}  # the store pops keys
        if raw_values:
            options["value_type"] = bytes
        created: Any = (self.app.GlobalTable(name, recovery_buffer_size=1, **options)
                        if global_ else self.app.Table(name, **options))
        # Faust serialises str keys as JSON ('"k"'); raw UTF-8 keys hash as partition_of says.
        created.key_serializer = "raw"
        created.changelog_topic = created.changelog_topic.derive(key_serializer="raw")
        self.produced.add(created.changelog_topic.get_topic_name())
        if by_key:
            created.partition_for_key = self.partition_of
        return created

    def partition_of(self, key: str) -> int:
        """The partition that holds `key` in every keyed topic and table of the app."""
        return partition_of(key, self.partitions)

    def owned(self, topic: str) -> set[int]:
        """Partitions of `topic` this worker actively owns now."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    def owner(self, table: Any, key: str) -> URL | None:
        """The web view of the worker that owns `key` in `table`, None while unassigned."""
        return self.owner_of(table, self.partition_of(key))

    def owner_of(self, table: Any, partition: int) -> URL | None:
        """The web view of the worker that owns `partition` of `table`, None while unassigned."""
        topic = table.changelog_topic.get_topic_name()
        assignor = cast(PartitionAssignor, self.app.assignor)
        for url, topics in assignor.changelog_distribution.items():
            if partition in topics.get(topic, ()):
                return URL(url)
        return None

    def holds(self, table: Any, key: str) -> bool:
        """Whether this worker actively holds `key`'s partition of `table` now (its own view
        of the assignment, which may lag the group's while partitions move)."""
        return self.partition_of(key) in self.owned(table.changelog_topic.get_topic_name())

    def is_me(self, url: URL) -> bool:
        """Whether `url` is this worker's own web view."""
        mine = self.app.conf.canonical_url
        return (url.host, url.port) == (mine.host, mine.port)

    def ready(self) -> bool:
        """Assigned, recovered and not rebalancing: safe to answer and to publish."""
        recovery = cast(Any, self.app.tables).recovery
        return (recovery.completed.is_set() and not self.app.rebalancing
                and not self.app.in_recovery)

    def on_ready(self, hook: Callable[[], None]) -> None:
        """Call `hook` each time a rebalance has ended (assignment and recovery complete)."""
        self.ready_hooks.append(hook)
