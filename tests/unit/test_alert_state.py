"""The alert state machine: hysteresis, hold, repeat, resolve on a missing measure, expiry."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.alerting.config import RuleConfig
from monitor.alerting.state import (
    FORGET,
    Observation,
    alert_labels,
    expire,
    fingerprint,
    next_wakeup,
    retire,
    step,
)
from monitor.wire import AlertRecord

PROXIMITY = RuleConfig("near", "cascade_proximity", "critical", threshold=0.05, margin=0.2)
VALUE = RuleConfig("big", "liquidatable_value", threshold=100.0, margin=0.1)


def run(rule: RuleConfig, values: list[float | None], start: float = 0.0,
        every: float = 1.0) -> list[AlertRecord]:
    """Step an alert through `values`; every record it produced."""
    held: AlertRecord | None = None
    records = []
    for i, value in enumerate(values):
        change = step(held, Observation(rule, "WETH", {"asset": "WETH"}, value, f"v={value}"),
                      start + i * every)
        if isinstance(change, AlertRecord):
            held = change
            records.append(change)
        elif change == FORGET:
            held = None
    return records


def test_a_measure_oscillating_around_the_threshold_fires_once() -> None:
    records = run(PROXIMITY, [0.08, 0.049, 0.051, 0.049, 0.059, 0.045, 0.055])
    assert [r.status for r in records] == ["firing"]
    records = run(PROXIMITY, [0.08, 0.049, 0.0601, 0.049])  # past 6 %: resolved, then again
    assert [(r.status, r.sequence) for r in records] == [("firing", 1), ("resolved", 2),
                                                         ("firing", 3)]


def test_above_rules_mirror_and_a_missing_measure_resolves() -> None:
    records = run(VALUE, [50.0, 100.0, 91.0, 95.0, None])
    assert [r.status for r in records] == ["firing", "resolved"]
    assert records[1].value is None and records[1].ends_at == 4.0


def test_hold_keeps_a_new_alert_pending_and_a_cleared_one_is_forgotten() -> None:
    held = replace(PROXIMITY, hold=10.0)
    records = run(held, [0.01, 0.01, 0.01], every=6.0)  # pending at 0, firing at 12
    assert [(r.status, r.at) for r in records] == [("pending", 0.0), ("firing", 12.0)]
    assert records[1].starts_at == 0.0
    assert next_wakeup(records[0], held, 3600.0) == 10.0
    assert step(records[0], Observation(held, "WETH", {}, 0.2, ""), 5.0) == FORGET


def test_repeat_renotifies_a_firing_alert() -> None:
    repeating = replace(PROXIMITY, repeat=60.0)
    records = run(repeating, [0.01, 0.01, 0.01, 0.01], every=40.0)
    assert [(r.status, r.repeats, r.at) for r in records] == [("firing", 0, 0.0),
                                                              ("firing", 1, 80.0)]
    assert next_wakeup(records[-1], repeating, 3600.0) == 140.0


def test_fingerprints_are_stable_and_expiry_follows_retention() -> None:
    labels = alert_labels(PROXIMITY, {"asset": "WETH", "side": "down"})
    assert labels == {"alertname": "near", "severity": "critical", "asset": "WETH",
                      "side": "down"}
    assert fingerprint(labels) == fingerprint(dict(reversed(labels.items())))
    assert fingerprint(labels) != fingerprint({**labels, "side": "up"})
    firing, resolved = run(PROXIMITY, [0.01, 0.5])
    assert firing.fingerprint == fingerprint(alert_labels(PROXIMITY, {"asset": "WETH"}))
    assert expire(resolved, 1.0 + 3599.0, 3600.0) is None
    assert expire(resolved, 1.0 + 3600.0, 3600.0) == FORGET
    assert next_wakeup(resolved, PROXIMITY, 3600.0) == pytest.approx(3601.0)


def test_a_removed_rule_resolves_its_firing_alert() -> None:
    (firing,) = run(PROXIMITY, [0.01])
    retired = retire(firing, 5.0)
    assert isinstance(retired, AlertRecord)
    assert (retired.status, retired.sequence, retired.ends_at) == ("resolved", 2, 5.0)
