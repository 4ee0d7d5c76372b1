"""Recovery's last step keeps what the consumer fetched for the streams: a record that reaches a
stream queue while the partitions are being sought is still there when the worker is ready.
Faust's own Recovery empties the queues after that point (the record is lost), so the same
check run against it must fail: that shows the check can catch the defect."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.tables.recovery import Recovery
from faust.types import TP

from monitor.config import load_settings
from monitor.stream.app import build_stream
from monitor.stream.recovery import OrderedRecovery, OrderedTableManager

STREAM = TP("positions", 0)


class FetchingConsumer:
    """The consumer's part recovery uses; seeking lets a record reach the stream queue, as the
    running fetcher does once the partition is resumed."""

    def __init__(self, queue: Any) -> None:
        self.queue, self.resumed = queue, False

    def assignment(self) -> set[TP]:
        """One stream partition."""
        return {STREAM}

    def resume_partitions(self, tps: set[TP]) -> None:
        """The fetcher may fetch these from now on."""
        self.resumed = STREAM in tps

    async def perform_seek(self) -> None:
        """While the seek is under way, the fetcher delivers a record of a resumed partition."""
        if self.resumed:
            self.queue.put_nowait("record at the committed offset")

    def resume_flow(self) -> None:
        """Nothing held back here."""


class Fetcher:
    """The app's fetcher, already running."""

    async def maybe_start(self) -> None:
        """Running."""


async def queued_after_recovery(kind: type[Recovery]) -> int:
    """Records left on the stream queue once `kind` completed recovery."""
    app = faust.App("recovery-order", TableManager=OrderedTableManager)
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    app._consumer = FetchingConsumer(queue)  # type: ignore[assignment]
    app._fetcher = Fetcher()  # type: ignore[assignment]
    app.consumer_generation_id = 1
    recovery = kind(app, app.tables)
    app.on_rebalance_start()
    await recovery.on_recovery_completed(generation_id=1)
    assert not app.rebalancing and recovery.completed.is_set()  # the worker is ready
    return queue.qsize()


def test_a_record_fetched_during_the_seek_is_kept() -> None:
    assert asyncio.run(queued_after_recovery(OrderedRecovery)) == 1


def test_faust_recovery_drops_it() -> None:
    """If Faust stops dropping it, OrderedRecovery can go (this fails then)."""
    assert asyncio.run(queued_after_recovery(Recovery)) == 0


def test_the_app_uses_ordered_recovery() -> None:
    stream = build_stream(load_settings(environ={}))
    assert isinstance(cast(OrderedTableManager, stream.ctx.app.tables).recovery, OrderedRecovery)
