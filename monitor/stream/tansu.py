"""Workarounds for Tansu 0.6, isolated here and used only on Tansu.

Fetch wake-up: Kafka answers a waiting Fetch as soon as a record arrives; Tansu holds it for
its whole max wait, and Faust asks for 1.5 s, so every hop between agents (placement → keeper,
positions → partials → clusters) would add up to 1.5 s. On Tansu the worker's consumer, and
the placement consumer (positions/placement.py), wait at most TANSU_FETCH_MAX_WAIT_MS instead
(a few small fetches a second while idle).

ListOffsets:
Tansu answers ListOffsets(LATEST) with the first offset of a partition's last record batch
plus one instead of the log end, while the high-water mark in its Fetch responses is right.
Faust's table recovery reads its target offsets from ListOffsets (aiokafka's end_offsets), so
on Tansu a memory-store restart silently loses the last updates and a RocksDB or GlobalTable
restart dies with ConsistencyError. Here a Faust transport whose consumer takes end offsets
from a one-byte, non-waiting Fetch instead. create_app() installs it only when the broker
flavor is "tansu": set MONITOR_BROKER_FLAVOR=tansu, or leave "auto" and let
resolve_broker_flavor() recognise Tansu's cluster id in a Metadata response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import faust
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

TANSU_CLUSTER_ID: Final = "tansu_cluster"
# Tansu answers a Fetch with max_wait 0 with no topics at all; with a wait and min_bytes 0 it
# answers at once with every partition's high-water mark.
FETCH_MAX_WAIT_MS: Final = 100
TANSU_FETCH_MAX_WAIT_MS: Final = 10


async def fetch_high_waters(client: AIOKafkaClient,
                            starts: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """High-water marks from Fetch responses: one request per leader, one byte per partition."""
    by_node: dict[int, dict[str, list[tuple[int, int, int]]]] = {}
    for tp, start in starts.items():
        node = client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            raise KafkaError(f"no leader known for {tp}")
        by_node.setdefault(node, {}).setdefault(tp.topic, []).append((tp.partition, start, 1))
    marks: dict[TopicPartition, int] = {}
    for node, topics in by_node.items():
        request = FetchRequest(FETCH_MAX_WAIT_MS, 0, 1, 0, list(topics.items()))
        response = await client.send(node, request)
        for topic, partitions in response.topics:
            for partition, error_code, high_water, *_ in partitions:
                if error_code:
                    raise KafkaError(f"Fetch {topic}[{partition}] failed: error {error_code}")
                marks[TopicPartition(topic, partition)] = high_water
    missing = set(starts) - set(marks)
    if missing:
        raise KafkaError(f"Fetch answered no high-water mark for {sorted(missing)}")
    return marks


class TansuConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread with end offsets taken from Fetch high-water marks and
    short fetch waits."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust's consumer, asking Tansu to hold a Fetch TANSU_FETCH_MAX_WAIT_MS at most."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """End offsets for recovery: Fetch high-water marks instead of ListOffsets(LATEST)."""
        consumer = self._ensure_consumer()
        tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        starts = await consumer.beginning_offsets(tps)
        marks = await fetch_high_waters(consumer._client, starts)
        return {TP(tp.topic, tp.partition): mark for tp, mark in marks.items()}


class TansuConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer using TansuConsumerThread."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        """Start the Tansu-aware consumer thread."""
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the Tansu-aware consumer."""

    Consumer = TansuConsumer


def install(app: faust.App) -> None:
    """Make `app` use the Tansu transport (call before the app creates topics or starts)."""
    app.transport = TansuTransport(app.conf.broker_consumer, app)


async def is_tansu(bootstrap: str) -> bool:
    """True when the broker at `bootstrap` reports Tansu's cluster id."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        node = next(iter(client.cluster.brokers())).nodeId
        metadata: Any = await client.send(node, MetadataRequest([]))
        return getattr(metadata, "cluster_id", None) == TANSU_CLUSTER_ID
    finally:
        await client.close()
