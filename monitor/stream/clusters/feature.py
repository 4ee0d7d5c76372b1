"""The clusters feature: keyed by asset, it keeps every positions partition's latest cluster
partial in a changelog-backed table (the raw partial bytes, as received) and on its board, and
announces each asset whose merged clusters changed.

A partial this worker publishes for an asset it owns goes on the board as it is sent, a broker
round trip and a decode before the agent reads it back; the agent then finds it held and only
writes it to the table (the durable copy), so a crash in between loses nothing."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Final

from faust.types import EventT, TopicT

from monitor.stream.agent import Outcome, input_agent
from monitor.stream.announce import Announcer
from monitor.stream.clusters.board import ClusterBoard
from monitor.stream.clusters.views import register_views
from monitor.stream.context import Context
from monitor.stream.partials import ClusterPartial
from monitor.stream.prices import Prices
from monitor.wire import CLUSTER_PARTIALS, Rejected

log = logging.getLogger(__name__)
CLOCK_SKEW_S: Final = 60.0  # how far ahead of this worker's clock a partial may be built


def partial_key(asset: str, partition: int) -> str:
    """Table key of one positions partition's partial for an asset."""
    return f"{asset}#{partition}"


class Clusters:
    """The partials agent, the partials table, the board and its change announcements."""

    def __init__(self, ctx: Context, prices: Prices, partials: TopicT,
                 published: Announcer[ClusterPartial]) -> None:
        self.ctx, self.prices, self.topic = ctx, prices, partials
        self.table = ctx.table("cluster-partials", raw_values=True)
        self.board = ClusterBoard()
        self.changed: Announcer[str] = Announcer()
        input_agent(ctx, partials, name="clusters", label=CLUSTER_PARTIALS, handle=self._merge)
        published.subscribe(self._published)
        self.table.on_recover(self._rebuild)
        register_views(ctx, self)

    def owns(self, asset: str) -> bool:
        """Whether this worker owns the asset's partials partition (and so its projection)."""
        return self.ctx.partition_of(asset) in self.ctx.owned(self.topic.get_topic_name())

    async def _merge(self, event: EventT[Any]) -> Outcome:
        """Keep the newest partial per (asset, partition) and announce the asset's change."""
        raw = event.message.value
        partial = ClusterPartial.from_bytes(raw)
        if not 0 <= partial.partition < self.ctx.partitions:
            raise Rejected("invalid-partial", f"partition {partial.partition} does not exist")
        if not (math.isfinite(partial.built_at)
                and partial.built_at <= time.time() + CLOCK_SKEW_S):
            # a partial from the future would hold its partition's place forever
            raise Rejected("invalid-partial", f"built_at {partial.built_at} is in the future")
        if self.board.put(partial):
            self.changed.announce(partial.asset)
        elif not self.board.holds(partial):  # held: put on the board as it was published
            return "stale"
        self.table[partial_key(partial.asset, partial.partition)] = raw
        return "applied"

    def _published(self, partial: ClusterPartial) -> None:
        """A partial this worker just sent: on the board now if its asset is owned here."""
        if self.owns(partial.asset) and self.board.put(partial):
            self.changed.announce(partial.asset)

    async def _rebuild(self) -> None:
        """Rebuild the board of the owned assets from the recovered partials."""
        self.board.clear()
        for raw in list(self.table.values()):
            partial = ClusterPartial.from_bytes(raw)
            if self.owns(partial.asset):
                self.board.put(partial)
        log.info("cluster board rebuilt: %d assets", len(self.board.assets))
        for asset in sorted(self.board.assets):
            self.changed.announce(asset)
