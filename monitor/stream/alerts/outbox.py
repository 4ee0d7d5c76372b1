"""The durable side of delivery: the alerts table (every alert's latest record, on every worker)
and the outbox (one entry per notification and receiver, partitioned by the alert's
fingerprint), both written only by agents, in stream iteration, so any table store works.

The `alerts` agent applies each proposed record whose sequence is newer than the table's
(a record proposed twice is applied once), writes the notification's outbox entries before the
table, and hands them to the couriers; re-reading a record after a crash re-creates entries
that did not reach the changelog, under the same ids. A record travels on its subject's
partition, so the agent runs beside the evaluator, which hands the couriers the notification
as it proposes it (the courier sends it once, and reports it done when the entry arrives).
The deliveries agent records each attempt's outcome. A done entry stays (the delivery status
GET /alerts/{fp}/ shows) until the alert expires; a pending one until it is done.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Final

import orjson
from faust.types import EventT

from monitor.alerting.config import AlertingConfig
from monitor.alerting.payloads import Notification
from monitor.stream.agent import Outcome
from monitor.stream.alerts.courier import Courier, Parcel
from monitor.stream.alerts.metrics import AlertMetrics
from monitor.stream.context import Context
from monitor.wire import AlertRecord, Rejected, alert_from_dict, key_text, parse_alert, parse_object

DONE: Final = ("delivered", "failed", "gave-up", "superseded")


def notification_kind(before: str | None, record: AlertRecord) -> str | None:
    """What a receiver is told of a record replacing one of status `before`: firing, repeat,
    resolved or nothing (pending alerts, and resolving one that never fired, notify no one)."""
    if record.status == "firing":
        return "repeat" if before == "firing" else "firing"
    if record.status == "resolved" and before == "firing":
        return "resolved"
    return None


def parcel_of(key: str, entry: Mapping[str, Any]) -> Parcel:
    """The in-memory parcel of an outbox entry."""
    return Parcel(key, int(entry["partition"]),
                  Notification(str(entry["id"]), str(entry["kind"]),
                               alert_from_dict(entry["record"])),
                  float(entry["created_at"]), int(entry["attempts"]), float(entry["next_at"]))


class Outbox:
    """The alerts table, the outbox table, their agents' handlers and the couriers' feed."""

    def __init__(self, ctx: Context, cfg: AlertingConfig, couriers: Mapping[str, Courier],
                 metrics: AlertMetrics) -> None:
        self.ctx, self.cfg, self.couriers, self.metrics = ctx, cfg, couriers, metrics
        self.alerts = ctx.table("alerts", global_=True)
        self.entries = ctx.table("alert-outbox")
        self.index: dict[str, set[str]] = {}  # fingerprint -> outbox keys

    def records(self) -> Iterator[AlertRecord]:
        """Every alert held in the (global) alerts table."""
        for value in list(self.alerts.values()):
            yield alert_from_dict(value)

    async def apply(self, event: EventT[Any]) -> Outcome:
        """Apply a proposed alert record (or a tombstone that forgets the alert)."""
        fp = key_text(event.message.key)
        if fp is None:
            raise Rejected("invalid-alert", "the key must be the alert's fingerprint")
        if event.message.value is None:
            return self._forget(fp)
        record = parse_alert(event.message.key, event.message.value)
        if self.ctx.partition_of(record.subject) != event.message.partition:
            raise Rejected("misplaced", f"alert {fp} belongs on partition "
                                        f"{self.ctx.partition_of(record.subject)}")
        stored = self.alerts.get(fp)
        if stored is not None and stored["sequence"] >= record.sequence:
            if stored["sequence"] == record.sequence:
                self._post(record, stored.get("notified"), event.message.partition)
            return "stale"
        kind = notification_kind(stored["status"] if stored else None, record)
        self._post(record, kind, event.message.partition)
        self.alerts[fp] = {**record.to_dict(), "notified": kind}
        if kind is not None:
            self.metrics.changes.labels(record.rule, kind).inc()
        return "applied"

    def _forget(self, fp: str) -> Outcome:
        """Remove an expired alert and its done outbox entries."""
        if fp not in self.alerts:
            return "stale"
        del self.alerts[fp]
        for key in sorted(self.index.pop(fp, set())):
            entry = self.entries.get(key)
            if entry is not None and entry["status"] in DONE:
                del self.entries[key]
            elif entry is not None:
                self.index.setdefault(fp, set()).add(key)
        return "applied"

    def _notifications(self, record: AlertRecord, kind: str | None,
                       partition: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """(outbox key, entry) of a notification for every receiver that takes it."""
        if kind is None:
            return
        now = time.time()
        for name, receiver in self.cfg.receivers.items():
            if receiver.takes(record.labels):
                yield f"{record.fingerprint}.{record.sequence}.{name}", {
                    "receiver": name, "id": f"msg_{record.fingerprint}_{record.sequence}",
                    "kind": kind, "record": record.to_dict(), "partition": partition,
                    "created_at": now, "attempts": 0, "next_at": now, "status": "pending",
                    "last_error": None, "done_at": None}

    def early(self, record: AlertRecord, kind: str | None, partition: int) -> None:
        """Hand a proposed change's notifications to the couriers at once, before the outbox
        holds them (the evaluator runs where the outbox partition lives): a crash before the
        entries are written re-sends them under the same ids, never loses them."""
        for key, entry in self._notifications(record, kind, partition):
            self.couriers[entry["receiver"]].offer(parcel_of(key, entry))

    def _post(self, record: AlertRecord, kind: str | None, partition: int) -> None:
        """Outbox entries of a notification (kept when they exist already: the same
        notification is posted once), handed to the couriers."""
        for key, entry in self._notifications(record, kind, partition):
            if key in self.entries:
                continue
            self.entries[key] = entry
            self.index.setdefault(record.fingerprint, set()).add(key)
            self.couriers[entry["receiver"]].offer(parcel_of(key, entry))

    async def delivered(self, event: EventT[Any]) -> Outcome:
        """Record one attempt's outcome on its outbox entry."""
        key = key_text(event.message.key) or ""
        update = parse_object(event.message.value)
        entry = self.entries.get(key)
        if entry is None or entry["status"] != "pending":
            return "stale"
        status = str(update.get("status"))
        entry = {**entry, "attempts": int(update.get("attempts", entry["attempts"])),
                 "last_error": update.get("error") or None}
        if status == "retry":
            entry["next_at"] = float(update.get("next_at", entry["next_at"]))
        else:
            entry.update(status=status, done_at=float(update.get("at", time.time())))
        fp = str(entry["record"]["fingerprint"])
        if entry["status"] in DONE and fp not in self.alerts:
            del self.entries[key]
            self.index.get(fp, set()).discard(key)
        else:
            self.entries[key] = entry
        return "applied"

    def pending(self, owns: Any, receiver: str | None = None) -> Iterator[Parcel]:
        """Parcels of the pending entries of owned partitions (of one receiver, if given)."""
        for key, entry in list(self.entries.items()):
            if entry["status"] == "pending" and owns(int(entry["partition"])) and \
                    receiver in (None, entry["receiver"]):
                yield parcel_of(key, entry)

    def reindex(self) -> None:
        """Rebuild the fingerprint index from the (recovered) outbox table."""
        self.index = {}
        for key, entry in list(self.entries.items()):
            self.index.setdefault(str(entry["record"]["fingerprint"]), set()).add(key)

    def deliveries_of(self, fp: str) -> list[dict[str, Any]]:
        """The delivery status of an alert's notifications, receiver by receiver."""
        out = []
        for key in sorted(self.index.get(fp, set())):
            entry = self.entries.get(key)
            if entry is not None:
                out.append({name: entry[name] for name in (
                    "receiver", "id", "kind", "status", "attempts", "created_at", "next_at",
                    "done_at", "last_error")})
        return out


def outcome_bytes(parcel: Parcel, status: str, error: str) -> bytes:
    """The deliveries topic's record of one attempt."""
    return orjson.dumps({"status": status, "attempts": parcel.attempts,
                         "next_at": parcel.next_at, "error": error, "at": time.time()})
