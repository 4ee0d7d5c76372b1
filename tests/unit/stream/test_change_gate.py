"""The change gate: a pass over the book after a share of it changed, a pause, or an age."""

from __future__ import annotations

import asyncio

from monitor.stream.change_gate import ChangeGate


def gate(calls: list[int], size: int = 100, quiet: float = 0.05,
         age: float = 0.2) -> ChangeGate:
    """A gate over a book of `size` that records each time it asks for a pass."""
    return ChangeGate(0.25, quiet, age, lambda: size, lambda: calls.append(1))


async def test_a_share_of_the_book_asks_at_once() -> None:
    calls: list[int] = []
    g = gate(calls)
    g.changed(10)
    assert calls == []  # a tenth: later
    g.changed(15)
    assert calls == [1] and g.pending == 25


async def test_a_pause_asks_after_quiet_seconds() -> None:
    calls: list[int] = []
    g = gate(calls)
    g.changed(1)
    await asyncio.sleep(0.01)
    assert calls == []
    await asyncio.sleep(0.15)
    assert calls == [1]


async def test_changes_that_never_pause_are_answered_by_the_age() -> None:
    calls: list[int] = []
    g = gate(calls, size=10**9, quiet=10.0, age=0.1)
    for _ in range(30):
        g.changed(1)
        await asyncio.sleep(0.01)
    assert calls  # never paused for `quiet`, never a share: the age asked


async def test_a_pass_that_begins_takes_the_changes_and_the_timer() -> None:
    calls: list[int] = []
    g = gate(calls)
    g.changed(5)
    g.began()
    await asyncio.sleep(0.1)
    assert calls == [] and g.pending == 0


async def test_a_change_of_unknown_size_is_answered_by_the_pause_not_the_share() -> None:
    calls: list[int] = []
    g = gate(calls, size=0)  # another worker's positions: none held here
    g.changed(0)
    assert calls == [] and g.pending == 0 and g.waiting
    await asyncio.sleep(0.15)
    assert calls == [1]
