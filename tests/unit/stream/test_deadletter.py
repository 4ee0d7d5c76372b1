"""DeadLetters.reject_value: a dead letter is counted once the broker has it; one that cannot be
written is retried, then counted apart and logged, and never raises into the agent."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from monitor.stream.deadletter import FAILED, DeadLetters
from monitor.stream.metrics import Metrics
from monitor.wire import Rejected


class Flaky:
    """A channel whose first `failures` sends raise (as a producer does past its size limit)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[bytes] = []

    async def send(self, *, key: bytes | None, value: bytes) -> Any:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("MessageSizeTooLargeError")

        async def delivered() -> None:
            self.sent.append(value)
        return delivered()


def counts(metrics: Metrics) -> tuple[float | None, ...]:
    """(delivered, failed, rejected outcome, failed outcome) for topic "positions"."""
    get = metrics.registry.get_sample_value
    labels = {"topic": "positions", "reason": "not-json"}
    return (get("monitor_dead_letters_total", labels),
            get("monitor_dead_letter_failures_total", labels),
            get("monitor_events_processed_total", {"topic": "positions", "outcome": "rejected"}),
            get("monitor_events_processed_total", {"topic": "positions", "outcome": FAILED}))


async def test_a_failed_send_is_retried_and_counted_once_delivered() -> None:
    metrics, channel = Metrics(), Flaky(failures=2)
    sink = DeadLetters(channel, metrics, pauses=(0.0, 0.0, 0.0))  # type: ignore[arg-type]
    sink.expect("positions")
    await sink.reject_value("positions", 0, 1, b"k", b"{", Rejected("not-json", "bad"))
    assert len(channel.sent) == 1
    assert counts(metrics) == (1.0, 0.0, 1.0, 0.0)


async def test_a_dead_letter_that_cannot_be_written_is_counted_apart_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics, channel = Metrics(), Flaky(failures=10)
    sink = DeadLetters(channel, metrics, pauses=(0.0, 0.0))  # type: ignore[arg-type]
    sink.expect("positions")
    with caplog.at_level(logging.ERROR):
        await sink.reject_value("positions", 3, 9, b"k", b"{", Rejected("not-json", "bad"))
    assert channel.sent == []
    assert counts(metrics) == (0.0, 1.0, 0.0, 1.0)
    assert "partition 3 offset 9 (not-json) not written after 3 attempts" in caplog.text
