"""The coalescer: one pass per burst of pokes, never two at once, a bounded share of the time
for all coalescers of one budget together, urgent pokes served at the urgent share, and a
failing pass never stops it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from monitor.stream.announce import Announcer
from monitor.stream.coalesce import Budget, Coalescer
from monitor.stream.metrics import Metrics


async def test_a_burst_of_pokes_costs_one_pass_after_the_running_one() -> None:
    started: list[float] = []
    running = 0

    async def work() -> None:
        nonlocal running
        running += 1
        assert running == 1  # never two passes at once
        started.append(time.perf_counter())
        await asyncio.sleep(0.02)
        running -= 1

    coalescer = Coalescer("test", work, Metrics(), Budget(1.0))
    task = asyncio.create_task(coalescer.run())
    try:
        coalescer.poke()
        await asyncio.sleep(0.005)  # the first pass is running
        for _ in range(50):
            coalescer.poke()
        await asyncio.sleep(0.1)
        assert len(started) == 2  # the running pass, then one for the whole burst
    finally:
        task.cancel()


async def test_passes_take_at_most_their_share_unless_urgent() -> None:
    passes: list[float] = []

    async def work() -> None:
        passes.append(time.perf_counter())
        time.sleep(0.02)  # 20 ms of blocking work

    coalescer = Coalescer("test", work, Metrics(), Budget(0.05), urgent_share=0.5)
    task = asyncio.create_task(coalescer.run())
    try:
        coalescer.poke()
        await asyncio.sleep(0.001)
        coalescer.poke()  # normal: the next pass waits 19x the pass (380 ms or more)
        await asyncio.sleep(0.1)
        assert len(passes) == 1
        coalescer.poke(urgent=True)  # urgent: 1x the pass is enough
        for _ in range(100):
            if len(passes) == 2:
                break
            await asyncio.sleep(0.005)
        assert len(passes) == 2 and passes[1] - passes[0] < 0.38
    finally:
        task.cancel()


async def test_a_pass_that_waits_is_spaced_by_the_time_it_held_the_loop() -> None:
    passes: list[float] = []

    async def work() -> float:
        passes.append(time.perf_counter())
        await asyncio.sleep(0.2)  # waiting on others: the loop is free
        return 0.001  # what the pass itself held the loop

    coalescer = Coalescer("test", work, Metrics(), Budget(0.5))
    task = asyncio.create_task(coalescer.run())
    try:
        coalescer.poke()
        await asyncio.sleep(0.01)
        coalescer.poke()  # folded into the next pass, due 1 ms after the first (not 200 ms)
        for _ in range(200):
            if len(passes) == 2:
                break
            await asyncio.sleep(0.005)
        assert len(passes) == 2 and passes[1] - passes[0] < 0.2 + 0.15
    finally:
        task.cancel()


async def test_a_failing_pass_is_counted_and_the_next_poke_runs_again() -> None:
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    metrics = Metrics()
    coalescer = Coalescer("flaky", work, metrics, Budget(1.0))
    task = asyncio.create_task(coalescer.run())
    try:
        coalescer.poke()
        await asyncio.sleep(0.01)
        coalescer.poke()
        await asyncio.sleep(0.01)
        assert calls == 2
        assert metrics.registry.get_sample_value("monitor_recompute_failures_total",
                                                 {"work": "flaky"}) == 1
    finally:
        task.cancel()


def test_shares_must_be_fractions() -> None:
    async def work() -> None:
        return None

    with pytest.raises(ValueError, match="share"):
        Budget(0.0)
    with pytest.raises(ValueError, match="share"):
        Coalescer("bad", work, Metrics(), Budget(0.5), urgent_share=1.5)


def test_an_announcement_reaches_every_subscriber_once() -> None:
    heard: list[tuple[str, int]] = []
    news: Announcer[int] = Announcer()
    news.subscribe(lambda n: heard.append(("a", n)))
    news.subscribe(lambda n: heard.append(("b", n)))
    news.announce(7)
    assert heard == [("a", 7), ("b", 7)]


async def test_min_gap_holds_back_sustained_changes_but_not_urgent_ones() -> None:
    passes = 0
    second = asyncio.Event()

    async def work() -> None:
        nonlocal passes
        passes += 1
        if passes == 2:
            second.set()

    coalescer = Coalescer("test", work, Metrics(), Budget(1.0), min_gap=600.0)
    task = asyncio.create_task(coalescer.run())
    try:
        coalescer.poke()  # after a quiet spell: a pass at once
        for _ in range(20):
            await asyncio.sleep(0.01)
            coalescer.poke()  # changes keep coming: held back by the gap
        assert passes == 1
        coalescer.poke(urgent=True)
        await asyncio.wait_for(second.wait(), 30)
    finally:
        task.cancel()


async def test_coalescers_of_one_budget_take_its_share_together() -> None:
    passes: list[tuple[str, float]] = []

    def work(name: str) -> Callable[[], Awaitable[None]]:
        async def blocking() -> None:
            passes.append((name, time.perf_counter()))
            time.sleep(0.02)  # 20 ms of blocking work

        return blocking

    budget = Budget(0.1)  # after a 20 ms pass, no background pass of either for 180 ms
    first = Coalescer("first", work("first"), Metrics(), budget)
    second = Coalescer("second", work("second"), Metrics(), budget)
    tasks = [asyncio.create_task(c.run()) for c in (first, second)]
    try:
        first.poke()
        await asyncio.sleep(0.001)
        second.poke()  # the first's pass spent the budget: the second waits for it
        await asyncio.sleep(0.1)
        assert [name for name, _ in passes] == ["first"]
        for _ in range(100):
            if len(passes) == 2:
                break
            await asyncio.sleep(0.01)
        assert [name for name, _ in passes] == ["first", "second"]
        assert passes[1][1] - passes[0][1] >= 0.18
    finally:
        for task in tasks:
            task.cancel()


async def test_a_round_of_a_long_pass_waits_for_the_budget_others_spent() -> None:
    budget = Budget(0.5)
    await budget.turn()  # nothing spent: at once
    budget.spend(0.03)  # another pass held the loop 30 ms: the next waits 30 ms more
    due = budget.ready_at
    await budget.turn()
    assert time.monotonic() >= due > 0
