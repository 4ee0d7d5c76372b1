"""The per-partition side of a joint cascade: for each positions partition this worker owns, a
BookStep per projection of a batch, kept between the batch's rounds (it remembers what it
liquidated) and forgotten once the batch has been quiet longer than the coordinator waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.risk import BookStep, Position, Release
from monitor.stream.contagion.rounds import StepReply, StepRequest
from monitor.stream.positions.books import Books


@dataclass
class _Steps:
    """One partition's steps of one batch: the next round they expect, and when last used."""

    round: int
    touched: float
    steps: dict[str, BookStep] = field(default_factory=dict)


class Responder:
    """Answers step requests for the positions partitions of `books`; `find` decodes a position
    the exact check needs (the books hold arrays only)."""

    def __init__(self, books: Books, find: Callable[[str], Position | None], keep: float) -> None:
        self.books, self.find, self.keep = books, find, keep
        self.batches: dict[tuple[str, int], _Steps] = {}

    def answer(self, request: StepRequest, partition: int) -> StepReply:
        """What `partition`'s positions release at each run's prices of the request's round
        (releases None when this worker cannot answer for it)."""
        now = time.monotonic()
        for key in [k for k, held in self.batches.items() if now - held.touched > self.keep]:
            del self.batches[key]
        key = (request.batch, partition)
        held = self.batches.get(key)
        book = self.books.partitions.get(partition)
        if request.round == 0 and book is not None:
            held = self.batches[key] = _Steps(0, now, {
                run: BookStep(book.book, self.find, book.markets)
                for run in request.runs})
        if held is None or held.round != request.round \
                or not request.runs.keys() <= held.steps.keys():
            return StepReply(request.batch, request.round, partition, None)
        releases: dict[str, Release] = {run: held.steps[run].release(request.start, prices)
                                        for run, prices in request.runs.items()}
        held.round, held.touched = request.round + 1, now
        return StepReply(request.batch, request.round, partition, releases)
