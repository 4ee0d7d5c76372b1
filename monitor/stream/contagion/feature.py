"""The contagion feature: joint cross-protocol cascades in the stream.

The coordinator of an asset is the worker owning the asset's cascades (its partials
partition). When the asset's cascade projection changes (or any price moves, for the stress
shocks) a coalesced pass builds its scenarios (each side's significant trigger, the configured
stress shocks of the asset) and runs them together in rounds: the round's step request (each
scenario's price vector) goes to the owner of every positions partition (POST
/contagion/step/{partition}/ on its web view, found as routed queries find it; partitions the
coordinator owns are answered in process), which answers with what the partition's positions
release (monitor.risk BookStep); the coordinator sums them (monitor.risk JointCascade) and
sends the next round until nothing falls. A round costs one HTTP exchange per other worker, in
parallel, instead of two broker hops.
Summing releases is exact (monitor.risk.contagion), so the served projection is the one over
the union of every partition's positions.

Triggers and stress shocks are two coalesced passes (monitor.stream.coalesce): the triggers
follow the cascade projection they depend on, at the urgent share when the asset's price moved
and at the recompute share when only positions changed; the stress shocks follow any price move,
and a projection whose price moved, at the recompute share. While only positions change (a
backfill), the stress shocks run again when a ChangeGate (monitor.stream.change_gate) says: once
STRESS_SHARE of the positions held here changed since the last stress pass began, once changes
paused for STRESS_QUIET, at the latest STRESS_AGE after the first change. A projection that
changed without a price move is a change too, of unknown size: it is how positions that other
workers hold reach the coordinator. A stress pass costs in proportion to the book, so one after
every projection, or on a fixed timer, would cost each event more the larger the book. Each
stress round waits while a trigger pass runs, is charged to the worker's budget and waits for it
before the next (a price move's partials and merges run in between), so the stress shocks and
every other background pass together stay within the recompute share. A pass awaits the other
workers, not the loop, and yields between the partitions it answers itself, so the single-asset
path runs between its steps. A round not answered by every partition within `[contagion]
timeout` (a rebalance: no owner, or one that lost the batch's steps; or a stress batch kept
waiting that long, which its steps forget) fails the pass, which asks for another RETRY_S later.

A trigger pass whose start prices move before it ends is abandoned at its next round (its answer
would be stale when served) and the next pass starts at once from the new prices; the pass after
an abandoned one always runs to its end, so projections keep coming under any rate of ticks. An
abandoned pass counts none of its time against the share: with the pass after it and that
pass's pause, the triggers still take at most 2/3 of the loop at the default urgent share.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any, Final

import aiohttp
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.risk import JointCascade, Release
from monitor.stream.cascades import Cascades
from monitor.stream.change_gate import ChangeGate
from monitor.stream.coalesce import Coalescer
from monitor.stream.contagion.responder import Responder
from monitor.stream.contagion.rounds import StepReply, StepRequest
from monitor.stream.contagion.scenarios import (
    DepthFor,
    Scenario,
    contagion_model,
    served,
    stress_scenario,
    trigger_scenarios,
)
from monitor.stream.contagion.views import register_views
from monitor.stream.context import Context
from monitor.stream.positions import Positions
from monitor.stream.prices import Prices
from monitor.wire import PriceUpdate

RETRY_S: Final = 1.0  # a failed pass waits this long before it asks for another
# positions changed since the last stress pass began, as a share of those held, that rerun the
# stresses: a pass runs several paced rounds over the books, so a backfill changes a few % of a
# large book before it ends; at a quarter, passes stay apart and cost each event the same
STRESS_SHARE: Final = 0.25
STRESS_QUIET: Final = 2.0  # seconds without a change of positions after which the stresses rerun
STRESS_AGE: Final = 300.0  # seconds after a change of positions by which they rerun regardless


class Superseded(Exception):
    """A trigger pass's start prices moved: what it would serve is already stale."""


class RoundIncomplete(RuntimeError):
    """A positions partition did not answer a round (timed out, or its owner lost the batch)."""


class Contagion:
    """Coordinator passes, the partition steps answered here, the served joint projections."""

    def __init__(self, ctx: Context, prices: Prices, positions: Positions, cascades: Cascades,
                 depth_for: DepthFor) -> None:
        self.ctx, self.prices, self.cascades, self.depth_for = ctx, prices, cascades, depth_for
        self.config = ctx.settings.contagion
        self.positions = positions
        self.responder = Responder(positions.books, positions.find, keep=self.config.timeout)
        self.stress = ctx.table("stress-projections", global_=True, by_key=True)
        self.latest: dict[str, dict[str, Any]] = {}  # by run, the projections coordinated here
        self._dirty: set[str] = set()
        self._triggers_idle = asyncio.Event()  # stress rounds wait while a trigger pass runs
        self._triggers_idle.set()
        self._abandoned = False  # the last trigger pass was abandoned: run the next to its end
        self._priced: dict[str, float] = {}  # by asset, the price of its last projection
        self.triggers = Coalescer("contagion-triggers", self._project_triggers, ctx.metrics,
                                  ctx.budget, ctx.settings.urgent_share)
        self.stresses = Coalescer("contagion-stress", self._project_stress, ctx.metrics,
                                  ctx.budget)
        self.restress = ChangeGate(STRESS_SHARE, STRESS_QUIET, STRESS_AGE,
                                   lambda: len(positions.books), self.stresses.poke)
        if self.config.enabled:
            ctx.app.task(self.triggers.run)
            ctx.app.task(self.stresses.run)
            cascades.projected.subscribe(self._projected)
            positions.applied.subscribe(self._positions_changed)
            prices.moved.subscribe(self._price_moved)
            ctx.on_ready(self._reassigned)
        ctx.metrics.add_gauges(self._gauges)
        register_views(ctx, self)

    def _projected(self, projection: dict[str, Any]) -> None:
        """An asset's cascade projection changed: project its triggers (urgently when its price
        moved; while only positions change, a backfill say, at the recompute share: a pass
        costs in proportion to the book) and the stress shocks: at once if its price moved, else
        when the gate says (the change may be positions another worker holds)."""
        asset, price = str(projection["asset"]), float(projection["price"])
        moved = self._priced.get(asset) != price
        self._priced[asset] = price
        self._dirty.add(asset)
        self.triggers.poke(urgent=moved)
        if moved:
            self.stresses.poke()
        else:
            self.restress.changed(0)

    def _positions_changed(self, applied: tuple[int, tuple[str, ...]]) -> None:
        """The stress shocks rerun when the gate says enough positions changed."""
        self.restress.changed(len(applied[1]))

    def _price_moved(self, update: PriceUpdate) -> None:
        """Any price move changes the stress projections."""
        self.stresses.poke()

    def _reassigned(self) -> None:
        """After a rebalance: forget what is coordinated elsewhere now, redo the rest."""
        for run, found in list(self.latest.items()):
            if not self.cascades.clusters.owns(found["shocked_asset"]):
                del self.latest[run]
        for asset in list(self.cascades.contagion):
            if not self.cascades.clusters.owns(asset):
                del self.cascades.contagion[asset]
        self._dirty |= set(self.cascades.projections)
        self.triggers.poke()
        self.stresses.poke()

    async def _project_triggers(self) -> float | None:
        """The marked assets' trigger scenarios (sides without a trigger any more are dropped
        from what is served); a failed pass marks them again and asks for another. Returns
        the seconds the pass held the loop."""
        if not self.ctx.ready():
            return None  # the marks stay; the rebalance's end marks everything again
        dirty, self._dirty = self._dirty, set()
        scenarios: list[Scenario] = []
        for asset in sorted(dirty):
            projection = self.cascades.projections.get(asset)
            found = trigger_scenarios(projection) if projection is not None else []
            served_now = self.cascades.contagion.setdefault(asset, {})
            for side in set(served_now) - {s.name for s in found}:
                served_now.pop(side)
                self.latest.pop(f"{asset}:{side}", None)
            scenarios += found
        self._triggers_idle.clear()
        try:
            held = await self._run(scenarios, abandon_stale=not self._abandoned)
        except Superseded:
            self._abandoned = True
            self._dirty |= dirty
            self.triggers.poke(urgent=True)
            return 0.0
        except Exception:
            self._dirty |= dirty
            await asyncio.sleep(RETRY_S)
            self.triggers.poke()
            raise
        finally:
            self._triggers_idle.set()
        self._abandoned = False
        return held

    async def _project_stress(self) -> float | None:
        """The stress shocks of the assets coordinated here; a failed pass asks for another.
        Returns the seconds the pass held the loop."""
        if not self.ctx.ready():
            return None
        self.restress.began()
        values = self.prices.values
        scenarios = [scenario for shock in self.config.stress
                     if self.cascades.clusters.owns(shock.asset)
                     and (scenario := stress_scenario(shock, values)) is not None]
        try:
            return await self._run(scenarios, paced=True)
        except Exception:
            await asyncio.sleep(RETRY_S)
            self.stresses.poke()
            raise

    async def _run(self, scenarios: list[Scenario], paced: bool = False,
                   abandon_stale: bool = False) -> float:
        """Run the scenarios' rounds together and serve each projection as it ends; the
        seconds spent on the loop (answering this worker's partitions and summing), not
        waiting for the other workers or yielding, and not yet charged to the budget. With
        `paced`, each round is charged to the worker's budget and the next waits for it (the
        stress shocks are background work: a pass over a large book spans many rounds, and
        with every other background pass it stays within the recompute share). With
        `abandon_stale`, Superseded once a price moved after the pass began."""
        if not scenarios:
            return 0.0
        began, waited, charged = time.perf_counter(), 0.0, 0.0
        started, settings = time.time(), self.ctx.settings
        start = dict(self.prices.values)
        versions = self.prices.versions()
        active = {s.run: (s, JointCascade(s.asset, start, s.shock_price,
                                          contagion_model(s, settings, start, self.depth_for)))
                  for s in scenarios}
        batch = uuid.uuid4().hex
        number = 0
        while active:
            if abandon_stale and number and self.prices.versions() != versions:
                raise Superseded(f"prices moved after round {number - 1} of batch {batch}")
            asking = time.perf_counter()
            if scenarios[0].kind == "stress":
                await self._triggers_idle.wait()
            request = StepRequest(batch, number, start,
                                  {run: cascade.prices for run, (_, cascade) in active.items()})
            replies, answering = await self._round(request)
            summing = time.perf_counter()
            waited += summing - asking - answering
            for run, (scenario, cascade) in list(active.items()):
                if cascade.absorb([_release(reply, run) for reply in replies]):
                    del active[run]
                    self._serve(scenario, served(cascade.projection(), scenario,
                                                 self.ctx.partitions, started, versions))
            number += 1
            if paced and active:
                spent = answering + time.perf_counter() - summing
                self.ctx.budget.spend(spent)
                charged += spent
                paused = time.perf_counter()
                await self.ctx.budget.turn()
                waited += time.perf_counter() - paused
        return time.perf_counter() - began - waited - charged

    async def _round(self, request: StepRequest) -> tuple[list[StepReply], float]:
        """The replies of every positions partition to the round: asked of the other workers in
        parallel while this one answers for its own (yielding between them); and the seconds
        its own answers took."""
        local = self.ctx.owned(self.positions.placed.get_topic_name())
        raw = request.to_bytes()
        asked = asyncio.gather(*(self._ask(partition, raw)
                                 for partition in range(self.ctx.partitions)
                                 if partition not in local))
        try:
            replies, answering = [], 0.0
            for partition in sorted(local):
                answered = time.perf_counter()
                replies.append(self.responder.answer(request, partition))
                answering += time.perf_counter() - answered
                await asyncio.sleep(0)
            return (replies + list(await asyncio.wait_for(asked, self.config.timeout)),
                    answering)
        except TimeoutError as exc:
            raise RoundIncomplete(f"round {request.round}: a partition did not answer within "
                                  f"{self.config.timeout}s") from exc
        finally:
            asked.cancel()

    async def _ask(self, partition: int, raw: bytes) -> StepReply:
        """The reply of the worker owning `partition` to a step request."""
        owner = self.ctx.owner_of(self.positions.table, partition)
        if owner is None or self.ctx.is_me(owner):
            raise RoundIncomplete(f"partition {partition}: no other owner (rebalancing)")
        url = owner.with_path(f"/contagion/step/{partition}/")
        try:
            async with self.ctx.app.http_client.post(url, data=raw) as response:
                body = await response.read()
                if response.status != 200:
                    raise RoundIncomplete(f"partition {partition}: {owner} answered "
                                          f"{response.status}")
        except aiohttp.ClientError as exc:
            raise RoundIncomplete(f"partition {partition}: {owner} did not answer "
                                  f"({type(exc).__name__})") from exc
        return StepReply.from_bytes(body)

    def _serve(self, scenario: Scenario, body: dict[str, Any]) -> None:
        """Keep and serve a finished projection."""
        self.latest[scenario.run] = body
        if scenario.kind == "trigger":
            self.cascades.contagion.setdefault(scenario.asset, {})[scenario.name] = body
        else:
            self.stress[scenario.name] = body

    def _gauges(self) -> Iterator[Metric]:
        """Per projection coordinated here: terminal moves, liquidated USD by protocol (direct
        or induced) and bad debt by protocol."""
        labels = ["scenario", "shocked"]
        move = GaugeMetricFamily("monitor_contagion_terminal_move_ratio",
                                 "Modelled terminal price move of `asset` in a joint cascade",
                                 labels=[*labels, "asset"])
        liquidated = GaugeMetricFamily("monitor_contagion_liquidated_usd",
                                       "Modelled USD liquidated in a joint cascade, by protocol, "
                                       "direct (the shock) or induced (other liquidations)",
                                       labels=[*labels, "protocol", "kind"])
        bad = GaugeMetricFamily("monitor_contagion_bad_debt_usd",
                                "Modelled bad debt at a joint cascade's terminal prices",
                                labels=[*labels, "protocol"])
        for run, body in sorted(self.latest.items()):
            key = [run, body["shocked_asset"]]
            for asset, ratio in sorted(body["terminal_move"].items()):
                move.add_metric([*key, asset], ratio)
            for protocol, split in sorted(body["liquidated_usd_by_protocol"].items()):
                for kind, usd in split.items():
                    liquidated.add_metric([*key, protocol, kind], usd)
            for protocol, usd in sorted(body["bad_debt_usd_by_protocol"].items()):
                bad.add_metric([*key, protocol], usd)
        yield from (move, liquidated, bad)


def _release(reply: StepReply, run: str) -> Release:
    """A partition's release for `run`, or RoundIncomplete when it could not answer."""
    if reply.releases is None or run not in reply.releases:
        raise RoundIncomplete(f"partition {reply.partition} lost batch {reply.batch}")
    return reply.releases[run]

