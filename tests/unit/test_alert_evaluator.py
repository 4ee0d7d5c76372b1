"""The evaluator (observations in, proposed changes out, reload after a rebalance) and its
deadline wake-ups."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from monitor.alerting.config import AlertingConfig, RuleConfig
from monitor.alerting.state import Observation
from monitor.stream.alerts.evaluator import Evaluator
from monitor.stream.alerts.wakeups import Wakeups
from monitor.wire import AlertRecord

JUMP = RuleConfig("jump", "oracle_jump", threshold=0.1, margin=0.5)
Proposed = tuple[str, str, AlertRecord | None, AlertRecord | None]


def evaluator(rules: dict[str, RuleConfig]) -> tuple[Evaluator, list[Proposed]]:
    """An evaluator that records what it proposes."""
    proposed: list[Proposed] = []
    found = Evaluator(AlertingConfig(rules=rules),
                      lambda fp, subject, new, before: proposed.append((fp, subject, new,
                                                                        before)))
    return found, proposed


def jump(value: float) -> Observation:
    """A WETH jump of `value`."""
    return Observation(JUMP, "WETH", {"asset": "WETH"}, value, f"moved {value:.0%}")


async def test_changes_are_proposed_once_with_the_record_they_replace() -> None:
    ev, proposed = evaluator({"jump": JUMP})
    fp = ev.observe(jump(0.2), now=1.0)
    ev.observe(jump(0.3), now=2.0)  # still firing: nothing to propose
    ev.observe(jump(0.01), now=3.0)
    assert [(p[1], p[2].status if p[2] else None, p[3].status if p[3] else None)
            for p in proposed] == [("WETH", "firing", None), ("WETH", "resolved", "firing")]
    assert {p[0] for p in proposed} == {fp} and ev.held[fp].sequence == 2


async def test_reload_keeps_newer_changes_and_retires_removed_rules() -> None:
    ev, proposed = evaluator({"jump": JUMP})
    fp = ev.observe(jump(0.2), now=1.0)
    older = replace(ev.held[fp], sequence=0)
    gone = replace(ev.held[fp], fingerprint="f" * 16, rule="removed")
    proposed.clear()
    ev.load([older, gone, replace(gone, fingerprint="e" * 16, subject="WBTC")],
            lambda subject: subject == "WETH")
    assert ev.held[fp].sequence == 1  # the table had not caught up: memory kept
    assert [(p[0], p[2].status if p[2] else None) for p in proposed] == [("f" * 16, "resolved")]
    assert "e" * 16 not in ev.held  # a subject another worker owns now


async def test_wakeups_fire_once_at_their_deadline_and_can_be_cancelled() -> None:
    woken: list[str] = []
    wakeups = Wakeups(woken.append)
    wakeups.at("due", time.time() - 1.0)
    wakeups.at("moved", time.time() - 1.0)
    wakeups.at("moved", time.time() + 3600.0)
    wakeups.at("cancelled", time.time() - 1.0)
    wakeups.at("cancelled", None)
    await asyncio.sleep(0.05)
    assert woken == ["due"]


async def test_a_callback_setting_a_past_deadline_never_blocks_the_loop() -> None:
    woken: list[str] = []

    def again(key: str) -> None:
        woken.append(key)
        wakeups.at(key, time.time() - 1.0)  # what a stale oracle's rule once did

    wakeups = Wakeups(again)
    wakeups.at("stale", time.time() - 1.0)
    await asyncio.sleep(0.05)  # returns at all: the loop was not held by one wake-up
    wakeups.clear()
    assert woken and set(woken) == {"stale"}


async def test_alerts_are_found_by_subject_while_held_and_after_a_reload() -> None:
    pending = RuleConfig("held-jump", "oracle_jump", threshold=0.1, margin=0.5, hold=60.0)
    ev, _ = evaluator({"jump": JUMP, "held-jump": pending})
    fired = ev.observe(jump(0.2), now=1.0)
    waiting = ev.observe(Observation(pending, "WETH", {"asset": "WETH"}, 0.2, ""), now=1.0)
    assert sorted(ev.held_about("WETH")) == sorted([fired, waiting])
    ev.observe(Observation(pending, "WETH", {"asset": "WETH"}, 0.0, ""), now=2.0)  # forgotten
    assert ev.held_about("WETH") == [fired] and ev.held_about("WBTC") == []
    ev.load([ev.held[fired]], lambda subject: subject == "WBTC")
    assert ev.held_about("WETH") == []
