"""Publish ingested snapshots and price updates to Kafka (keys raw UTF-8, values orjson).

The follower only advances its checkpoint after `flush` confirms delivery, so a crash can
repeat records (harmless: snapshots are idempotent by version) but never lose them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer


class Sink(Protocol):
    """Where the follower's records go."""

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Queue one record."""

    async def flush(self) -> None:
        """Wait until every queued record is delivered (raise if one failed)."""


class KafkaSink:
    """An aiokafka producer with a few ms of linger so records go out in batches."""

    def __init__(self, bootstrap: str, linger_ms: int = 5) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms,
                                         max_batch_size=256 * 1024, acks=1)
        self._pending: list[asyncio.Future[Any]] = []
        self.sent = 0

    async def start(self) -> KafkaSink:
        """Connect to the broker."""
        await self.producer.start()
        return self

    async def stop(self) -> None:
        """Deliver what is queued and disconnect."""
        try:
            await self.flush()
        finally:
            await self.producer.stop()

    async def __aenter__(self) -> KafkaSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Queue one record (key as raw UTF-8, value as JSON)."""
        self._pending.append(await self.producer.send(topic, orjson.dumps(value),
                                                      key=key.encode()))
        self.sent += 1

    async def flush(self) -> None:
        """Wait for the delivery of every queued record."""
        if self._pending:
            pending, self._pending = self._pending, []
            await asyncio.gather(*pending)
