"""Rejecting an input record: publish it to the dead-letter topic and count it."""

from __future__ import annotations

from faust.types import EventT, TopicT

from monitor.stream.inputs import Rejected, dead_letter
from monitor.stream.metrics import Metrics


async def reject(dead_letters: TopicT, metrics: Metrics, topic: str, event: EventT,
                 rejected: Rejected) -> None:
    """Send the original record with the reason to dead-letters (keyed by its original key)."""
    message = event.message
    metrics.dead_letters.labels(topic, rejected.reason).inc()
    metrics.processed.labels(topic, "rejected").inc()
    await dead_letters.send(
        key=message.key,
        value=dead_letter(rejected, topic, message.partition, message.offset,
                          message.key, message.value),
    )
