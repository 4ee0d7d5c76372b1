"""Rejecting an input record: publish it with the reason to the dead-letter topic and count it,
so bad input never stops an agent and never vanishes. A dead letter is counted once the broker
has it; one that cannot be written after a few attempts is logged and counted apart
(`dead-letter-failed`), never as delivered, and the agent carries on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Final

from faust.types import ChannelT, EventT

from monitor.stream.metrics import Metrics
from monitor.wire import REASONS, Rejected, dead_letter, letter_key

log = logging.getLogger(__name__)
RETRY_PAUSES_S: Final = (0.1, 0.5, 2.0)  # between the attempts to write one dead letter
FAILED: Final = "dead-letter-failed"  # the outcome of a record whose dead letter was lost


class DeadLetters:
    """The dead-letter sink every agent rejects into."""

    def __init__(self, channel: ChannelT[Any], metrics: Metrics,
                 pauses: Sequence[float] = RETRY_PAUSES_S) -> None:
        self.channel = channel
        self.metrics = metrics
        self.pauses = pauses

    def expect(self, topic: str) -> None:
        """Count every reason of `topic` from zero, so a rate of dead letters reads 0 (not "no
        data") until the first one arrives."""
        for reason in REASONS:
            self.metrics.dead_letters.labels(topic, reason)
            self.metrics.dead_letter_failures.labels(topic, reason)
        self.metrics.processed.labels(topic, "rejected")
        self.metrics.processed.labels(topic, FAILED)

    async def reject(self, topic: str, event: EventT[Any], rejected: Rejected) -> None:
        """Send the original record with the reason (keyed by its original key) and count it."""
        message = event.message
        await self.reject_value(topic, message.partition, message.offset, message.key,
                                message.value, rejected)

    async def reject_value(self, topic: str, partition: int, offset: int, key: bytes | None,
                           value: bytes | None, rejected: Rejected) -> None:
        """Dead-letter one value found at topic/partition/offset (a record, or one snapshot
        of a batch record) and count it once the broker acknowledged it."""
        letter = dead_letter(rejected, topic, partition, offset, key, value)
        error: Exception | None = None
        for pause in (*self.pauses, None):
            try:
                await (await self.channel.send(key=letter_key(key), value=letter))
            except Exception as exc:  # any producer error: retried, then counted apart
                error = exc
                if pause is not None:
                    await asyncio.sleep(pause)
                continue
            self.metrics.dead_letters.labels(topic, rejected.reason).inc()
            self.metrics.processed.labels(topic, "rejected").inc()
            return
        self.metrics.dead_letter_failures.labels(topic, rejected.reason).inc()
        self.metrics.processed.labels(topic, FAILED).inc()
        log.error("dead letter of %s partition %d offset %d (%s) not written after %d "
                  "attempts: %s: %s", topic, partition, offset, rejected.reason,
                  len(self.pauses) + 1, type(error).__name__, error)
