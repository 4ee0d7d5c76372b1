"""The alerts of the subjects this worker owns (assets whose projection it holds, positions in
its partitions): every observation steps an alert's state machine at once, and each change is
proposed to the `alerts` topic. The alerts table is the state that survives failover: after a
rebalance, the held alerts are reloaded from it for the subjects owned now."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from monitor.alerting.config import AlertingConfig
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
from monitor.stream.alerts.wakeups import Wakeups
from monitor.wire import AlertRecord

# (fingerprint, subject, the new record or None to forget the alert, the record it replaces)
Propose = Callable[[str, str, AlertRecord | None, AlertRecord | None], None]


class Evaluator:
    """Held alerts, the last observation of each, and the wake-ups their rules need."""

    def __init__(self, cfg: AlertingConfig, propose: Propose) -> None:
        self.cfg = cfg
        self.propose = propose
        self.held: dict[str, AlertRecord] = {}
        self.subjects: dict[str, set[str]] = {}  # subject -> fingerprints of its held alerts
        self.last: dict[str, Observation] = {}
        self.wakeups = Wakeups(self._wake)

    def observe(self, obs: Observation, now: float | None = None) -> str:
        """Step the alert `obs` is about; returns its fingerprint."""
        fp = fingerprint(alert_labels(obs.rule, obs.labels))
        self.last[fp] = obs
        self._apply(fp, step(self.held.get(fp), obs, time.time() if now is None else now))
        return fp

    def held_by(self, rule: str) -> list[str]:
        """Fingerprints of the alerts of `rule` held now."""
        return [fp for fp, record in self.held.items() if record.rule == rule]

    def held_about(self, subject: str) -> list[str]:
        """Fingerprints of the alerts of `subject` held now, without a pass over every alert."""
        return list(self.subjects.get(subject, ()))

    def vanish(self, fp: str, summary: str) -> None:
        """The subject of a held alert is gone (position closed): observe no measure."""
        obs = self.last.get(fp) or self._from_record(self.held[fp])
        self.observe(Observation(obs.rule, obs.subject, obs.labels, None, summary))

    def load(self, records: Iterable[AlertRecord], owns: Callable[[str], bool]) -> None:
        """Hold the given records of owned subjects (after a rebalance), retiring the alerts
        of rules no longer configured; a change held here that the table does not have yet
        (still on its way through `alerts`) is kept."""
        table = {r.fingerprint: r for r in records if owns(r.subject)}
        for fp, record in self.held.items():
            if owns(record.subject) and record.sequence > getattr(table.get(fp), "sequence", 0):
                table[fp] = record
        self.held = table
        self.subjects = {}
        for fp, record in table.items():
            self.subjects.setdefault(record.subject, set()).add(fp)
        self.last = {fp: obs for fp, obs in self.last.items() if fp in self.held}
        self.wakeups.clear()
        now = time.time()
        for fp, record in list(self.held.items()):
            if record.rule in self.cfg.rules:
                self._schedule(fp, record)
            else:
                self._apply(fp, retire(record, now))

    def _apply(self, fp: str, change: AlertRecord | str | None) -> None:
        """Hold and propose a change."""
        if change is None:
            return
        before = self.held.get(fp)
        if change == FORGET:
            self.held.pop(fp, None)
            self.last.pop(fp, None)
            self.wakeups.at(fp, None)
            if before is not None:
                self._unindex(fp, before.subject)
                self.propose(fp, before.subject, None, before)
            return
        assert isinstance(change, AlertRecord)
        self.held[fp] = change
        self.subjects.setdefault(change.subject, set()).add(fp)
        self._schedule(fp, change)
        self.propose(fp, change.subject, change, before)

    def _unindex(self, fp: str, subject: str) -> None:
        """Drop a forgotten alert from its subject's fingerprints."""
        fps = self.subjects[subject]
        fps.discard(fp)
        if not fps:
            del self.subjects[subject]

    def _schedule(self, fp: str, record: AlertRecord) -> None:
        """Wake for the alert when its rule needs a look without new input."""
        self.wakeups.at(fp, next_wakeup(record, self.cfg.rules.get(record.rule),
                                        self.cfg.retention))

    def _from_record(self, record: AlertRecord) -> Observation:
        """The observation a held record was last stepped with (after a reload)."""
        return Observation(self.cfg.rules[record.rule], record.subject, record.labels,
                           record.value, record.annotations.get("summary", ""))

    def _wake(self, fp: str) -> None:
        """A deadline passed: expire, fire after a hold, or repeat."""
        held = self.held.get(fp)
        if held is None:
            return
        now = time.time()
        if held.status == "resolved":
            self._apply(fp, expire(held, now, self.cfg.retention))
        elif held.rule in self.cfg.rules:
            obs = self.last.get(fp) or self._from_record(held)
            self._apply(fp, step(held, obs, now))
