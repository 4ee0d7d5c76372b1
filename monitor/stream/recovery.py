"""Table recovery that cannot drop the first records after a rebalance.

Faust 0.15's `Recovery.on_recovery_completed` resumes the stream partitions and seeks them to
their committed offsets, and only then calls `flow_control.resume()`, which empties every
stream queue (meant for events of revoked partitions). The consumer's flow is already running
at that point (recovery resumed it to read the changelogs), so records fetched in between are
put on the queues, marked read, and then discarded: they are never fetched again, and the acks
of the records after them commit past them. A worker that restarts while its input has moved
on can so lose an update for good (seen: one position's newest snapshot never applied).

Here the queues are emptied first, and the stream partitions resumed after, so nothing fetched
for them is discarded.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.tables import TableManager
from faust.tables.recovery import Recovery


class OrderedRecovery(Recovery):
    """Faust's recovery, emptying the stream queues before the stream partitions resume."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Tables are ready: drop stale queued events, then resume and seek the streams."""
        app, consumer = self.app, self.app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        done = [asyncio.ensure_future(table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]))
                for table in self.tables.values()]
        if done:
            await asyncio.wait(done)
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again: generation %r, recovered %r",
                             app.consumer_generation_id, generation_id)
            return
        app.flow_control.resume()  # empties the queues: before any stream record is fetched
        assignment = consumer.assignment()
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(),
                             timeout=app.conf.broker_request_timeout)
        self.completed.set()
        consumer.resume_flow()
        await cast(Any, app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class OrderedTableManager(TableManager):
    """Faust's table manager with OrderedRecovery."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service (created on first use, as Faust's is)."""
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon,
                                             loop=self.loop)
        return self._recovery
