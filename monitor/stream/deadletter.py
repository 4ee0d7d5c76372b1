"""Rejecting an input record: publish it with the reason to the dead-letter topic and count it,
so bad input never stops an agent and never vanishes."""

from __future__ import annotations

from typing import Any

from faust.types import ChannelT, EventT

from monitor.stream.metrics import Metrics
from monitor.wire import REASONS, Rejected, dead_letter


class DeadLetters:
    """The dead-letter sink every agent rejects into."""

    def __init__(self, channel: ChannelT[Any], metrics: Metrics) -> None:
        self.channel = channel
        self.metrics = metrics

    def expect(self, topic: str) -> None:
        """Count every reason of `topic` from zero, so a rate of dead letters reads 0 (not "no
        data") until the first one arrives."""
        for reason in REASONS:
            self.metrics.dead_letters.labels(topic, reason)
        self.metrics.processed.labels(topic, "rejected")

    async def reject(self, topic: str, event: EventT[Any], rejected: Rejected) -> None:
        """Send the original record with the reason (keyed by its original key) and count it."""
        message = event.message
        await self.reject_value(topic, message.partition, message.offset, message.key,
                                message.value, rejected)

    async def reject_value(self, topic: str, partition: int, offset: int, key: bytes | None,
                           value: bytes | None, rejected: Rejected) -> None:
        """Dead-letter one value found at topic/partition/offset (a record, or one snapshot
        of a batch record) and count it."""
        self.metrics.dead_letters.labels(topic, rejected.reason).inc()
        self.metrics.processed.labels(topic, "rejected").inc()
        await self.channel.send(
            key=key, value=dead_letter(rejected, topic, partition, offset, key, value))
