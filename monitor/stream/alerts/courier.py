"""One receiver's deliveries: the outbox entries of the partitions this worker owns wait in a
bounded in-memory queue ordered by their next attempt, and one task sends them, so a slow or
dead receiver only ever delays itself. Each outcome is reported (to the deliveries topic that
updates the durable outbox); retries follow the receiver's schedule with jitter, never sooner
than Retry-After, until the schedule or give_up_after runs out (then a dead letter)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp

from monitor.alerting.config import ReceiverConfig
from monitor.alerting.delivery import Attempt, retry_delay, send
from monitor.alerting.payloads import Endpoint, Notification, headline, request_for
from monitor.console import say

log = logging.getLogger(__name__)
STATE_BASED: Final = ("alertmanager", "pagerduty")  # only an alert's latest state matters
NOT_READY_WAIT_S: Final = 0.2
REMEMBERED: Final = 10_000  # outcomes of recent parcels kept, to answer a parcel offered again
CONSOLE: Final = "monitor alerts"


@dataclass
class Parcel:
    """One pending outbox entry in memory."""

    key: str
    partition: int
    notification: Notification
    created_at: float
    attempts: int
    next_at: float


# (parcel, status: retry/delivered/failed/gave-up/superseded, error)
Report = Callable[[Parcel, str, str], Awaitable[None]]


class Courier:
    """The queue and the delivery task of one receiver."""

    def __init__(self, receiver: ReceiverConfig, endpoint: Endpoint, report: Report,
                 ready: Callable[[], bool], generator_url: str,
                 refill: Callable[[Courier], None]) -> None:
        self.receiver, self.endpoint, self.report = receiver, endpoint, report
        self.ready, self.generator_url, self.refill = ready, generator_url, refill
        self.parcels: dict[str, Parcel] = {}
        self.latest: dict[str, int] = {}  # fingerprint -> newest sequence queued
        self.overflowed = False
        self.sending: str | None = None
        self.done: OrderedDict[str, str] = OrderedDict()  # recent parcels' final outcomes
        self._reports: set[asyncio.Task[None]] = set()
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self.session: aiohttp.ClientSession | None = None

    @property
    def lease(self) -> float:
        """How long Alertmanager keeps a firing alert that is not re-sent."""
        return 4.0 * self.receiver.resend_interval

    def offer(self, parcel: Parcel) -> bool:
        """Queue a parcel unless the queue is full (it then stays in the outbox for later); one
        queued, being sent or done already is not sent again (a done one is reported again,
        for the outbox entry that arrived after it was sent)."""
        if parcel.key in self.parcels or parcel.key == self.sending:
            return True
        if parcel.key in self.done:
            task = asyncio.ensure_future(self.report(parcel, self.done[parcel.key], ""))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
            return True
        if len(self.parcels) >= self.receiver.queue_size:
            self.overflowed = True
            return False
        self._push(parcel)
        record = parcel.notification.record
        self.latest[record.fingerprint] = max(self.latest.get(record.fingerprint, 0),
                                              record.sequence)
        return True

    def keep(self, owns: Callable[[int], bool]) -> None:
        """Drop the parcels of partitions this worker no longer owns."""
        for key, parcel in list(self.parcels.items()):
            if not owns(parcel.partition):
                del self.parcels[key]

    def _push(self, parcel: Parcel) -> None:
        """Queue a parcel at its next attempt time."""
        self.parcels[parcel.key] = parcel
        heapq.heappush(self._heap, (parcel.next_at, next(self._order), parcel.key))
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled (a Faust app task)."""
        self.session = aiohttp.ClientSession()
        try:
            while True:
                parcel = await self._next()
                self.sending = parcel.key
                try:
                    await self._attempt(parcel)
                finally:
                    self.sending = None
                if self.overflowed and len(self.parcels) < self.receiver.queue_size // 2:
                    self.overflowed = False
                    self.refill(self)
        finally:
            await self.session.close()

    async def _next(self) -> Parcel:
        """The parcel due first, once it is due and the worker is ready."""
        while True:
            while self._heap and (self._heap[0][2] not in self.parcels
                                  or self.parcels[self._heap[0][2]].next_at != self._heap[0][0]):
                heapq.heappop(self._heap)
            wait = None if not self._heap else self._heap[0][0] - time.time()
            if wait is not None and wait <= 0:
                if self.ready():
                    return self.parcels.pop(heapq.heappop(self._heap)[2])
                wait = NOT_READY_WAIT_S
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _attempt(self, parcel: Parcel) -> None:
        """Send one parcel and report how it went."""
        record = parcel.notification.record
        if self.receiver.kind in STATE_BASED and \
                self.latest.get(record.fingerprint, 0) > record.sequence:
            await self._finish(parcel, "superseded", "a newer state of the alert is queued")
            return
        if self.receiver.kind == "console":
            say(CONSOLE, headline(parcel.notification))
            await self._finish(parcel, "delivered", "")
            return
        assert self.session is not None
        request = request_for(self.receiver.kind, self.endpoint, parcel.notification,
                              time.time(), self.generator_url, self.lease)
        attempt = await send(self.session, request, self.receiver.timeout)
        await self._judge(parcel, attempt)

    async def _finish(self, parcel: Parcel, status: str, error: str) -> None:
        """Report a final outcome and remember it."""
        self.done[parcel.key] = status
        while len(self.done) > REMEMBERED:
            self.done.popitem(last=False)
        await self.report(parcel, status, error)

    async def _judge(self, parcel: Parcel, attempt: Attempt) -> None:
        """Done, retried later, or given up."""
        if attempt.outcome in ("delivered", "failed"):
            await self._finish(parcel, attempt.outcome, attempt.error)
            return
        parcel.attempts += 1
        delay = retry_delay(self.receiver, parcel.attempts, attempt.retry_after, self._rng)
        now = time.time()
        if delay is None or now + delay > parcel.created_at + self.receiver.give_up_after:
            await self._finish(parcel, "gave-up", f"{parcel.attempts} attempts, last: "
                                                  f"{attempt.error}")
            return
        parcel.next_at = now + delay
        self._push(parcel)
        await self.report(parcel, "retry", attempt.error)
