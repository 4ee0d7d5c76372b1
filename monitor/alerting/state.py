"""An alert's state machine, pure: an observation of a rule's measure for one subject moves the
alert held for it (none, pending, firing, resolved) and yields the record of the change, if any.

Hysteresis: a "below" rule fires at measure ≤ threshold and resolves only past
threshold × (1 + margin) ("above": ≥ threshold, below threshold × (1 − margin)), so a measure
oscillating around the threshold fires once. A missing measure (no trigger, position gone)
resolves. `hold` keeps a new alert pending that long before it fires; `repeat` re-notifies a
firing one. Time is passed in, so the caller decides when to look again (next_wakeup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

import orjson

from monitor.alerting.config import RuleConfig
from monitor.wire import AlertRecord

FORGET: Final = "forget"  # the alert is to be removed (a pending one that cleared, or expired)


@dataclass(frozen=True)
class Observation:
    """A rule's measure for one subject now, with what the notification says about it."""

    rule: RuleConfig
    subject: str
    labels: Mapping[str, str]  # identity labels of the subject (asset, side, position_id)
    value: float | None
    summary: str


def alert_labels(rule: RuleConfig, identity: Mapping[str, str]) -> dict[str, str]:
    """Every label of an alert: its name, severity, the rule's static labels and the
    subject's identity."""
    return {**rule.labels, "alertname": rule.name, "severity": rule.severity, **identity}


def fingerprint(labels: Mapping[str, str]) -> str:
    """The stable identity of an alert: a hash of its sorted labels (16 hex digits)."""
    return hashlib.sha256(orjson.dumps(dict(sorted(labels.items())))).hexdigest()[:16]


def crosses(rule: RuleConfig, value: float | None) -> bool:
    """The measure is past the threshold (the alert should fire)."""
    if value is None:
        return False
    return value <= rule.threshold if rule.direction == "below" else value >= rule.threshold


def holds(rule: RuleConfig, value: float | None) -> bool:
    """The measure has not come back past the threshold by the margin (a firing alert stays)."""
    if value is None:
        return False
    if rule.direction == "below":
        return value <= rule.threshold * (1.0 + rule.margin)
    return value >= rule.threshold * (1.0 - rule.margin)


def _new(obs: Observation, held: AlertRecord | None, now: float) -> AlertRecord:
    """A new pending (with a hold) or firing alert."""
    labels = alert_labels(obs.rule, obs.labels)
    return AlertRecord(
        fingerprint=fingerprint(labels), rule=obs.rule.name,
        status="pending" if obs.rule.hold > 0 else "firing",
        sequence=held.sequence + 1 if held else 1, labels=labels,
        annotations={"summary": obs.summary}, subject=obs.subject, value=obs.value,
        threshold=obs.rule.threshold, starts_at=now, ends_at=None, at=now)


def _changed(held: AlertRecord, obs: Observation, now: float, status: str,
             repeats: int, ends_at: float | None) -> AlertRecord:
    """The next record of `held` (one sequence up) with the measure and summary of now."""
    return replace(held, status=status, sequence=held.sequence + 1, at=now, value=obs.value,
                   annotations={"summary": obs.summary}, repeats=repeats, ends_at=ends_at)


def step(held: AlertRecord | None, obs: Observation, now: float) -> AlertRecord | str | None:
    """The change `obs` makes to the alert `held`: a new record, FORGET, or None."""
    rule = obs.rule
    if held is None or held.status == "resolved":
        return _new(obs, held, now) if crosses(rule, obs.value) else None
    if held.status == "pending":
        if not crosses(rule, obs.value):
            return FORGET
        if now - held.starts_at < rule.hold:
            return None
        return _changed(held, obs, now, "firing", 0, None)
    if not holds(rule, obs.value):
        return _changed(held, obs, now, "resolved", held.repeats, now)
    if rule.repeat > 0 and now - held.at >= rule.repeat:
        return _changed(held, obs, now, "firing", held.repeats + 1, None)
    return None


def next_wakeup(held: AlertRecord, rule: RuleConfig | None, retention: float) -> float | None:
    """When the alert must be looked at again without new input: a hold ending, a repeat due,
    or a resolved alert to forget."""
    if held.status == "resolved":
        return (held.ends_at or held.at) + retention
    if rule is None:
        return None
    if held.status == "pending":
        return held.starts_at + rule.hold
    return held.at + rule.repeat if rule.repeat > 0 else None


def expire(held: AlertRecord, now: float, retention: float) -> str | None:
    """FORGET for a resolved alert past its retention."""
    if held.status == "resolved" and now >= (held.ends_at or held.at) + retention:
        return FORGET
    return None


def retire(held: AlertRecord, now: float) -> AlertRecord | str | None:
    """The change for an alert whose rule is no longer configured: a firing one resolves, a
    pending one is forgotten, a resolved one waits for its expiry."""
    if held.status == "pending":
        return FORGET
    if held.status == "firing":
        return replace(held, status="resolved", sequence=held.sequence + 1, at=now,
                       ends_at=now, value=None,
                       annotations={"summary": f"rule {held.rule} is no longer configured"})
    return None
