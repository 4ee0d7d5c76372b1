"""Rejecting an input record: publish it to the dead-letter topic and count it."""

from __future__ import annotations

from typing import Any

from faust.types import ChannelT, EventT

from monitor.stream.inputs import Rejected, dead_letter
from monitor.stream.metrics import Metrics


async def reject(dead_letters: ChannelT[Any], metrics: Metrics, topic: str, event: EventT[Any],
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
