"""A versioned input held whole on every worker: a global table, written by the worker whose
agent reads the record and replicated to the others by its changelog. Each worker offers every
value it meets (read, replicated or recovered) to the feature, which keeps it only if it is
newer than what it holds, so the order values arrive in does not matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from faust.types import EventT

from monitor.limits import Limits
from monitor.stream.agent import Outcome, input_agent
from monitor.stream.context import Context

T = TypeVar("T")


class Replicated(Generic[T]):
    """The global table and input agent of one versioned topic, values offered to `offer`."""

    def __init__(self, ctx: Context, topic: str, table: str, *,
                 parse: Callable[[bytes | None, bytes | None], T],
                 offer: Callable[[T], bool], key: Callable[[T], str],
                 to_value: Callable[[T], dict[str, Any]],
                 from_value: Callable[[dict[str, Any]], T], limits: Limits) -> None:
        self.parse, self.offer, self.key = parse, offer, key
        self.to_value, self.from_value = to_value, from_value
        self.table = ctx.table(table, global_=True, on_changelog_event=self._replicated)
        input_agent(ctx, ctx.topic(topic), name=topic, label=topic, handle=self._handle,
                    limits=limits)
        self.table.on_recover(self._recovered)

    async def _handle(self, event: EventT[Any]) -> Outcome:
        """Validate a record; the newest version wins (older and equal ones are stale)."""
        value = self.parse(event.message.key, event.message.value)
        if not self.offer(value):
            return "stale"
        self.table[self.key(value)] = self.to_value(value)
        return "applied"

    async def _replicated(self, event: EventT[Any]) -> None:
        """A value applied by another worker (or recovered) reaches this one."""
        if event.message.value is not None:
            self.offer(self.from_value(orjson.loads(event.message.value)))

    async def _recovered(self) -> None:
        """Everything the recovered table holds (kept where newer than what is held)."""
        for value in list(self.table.values()):
            self.offer(self.from_value(value))
