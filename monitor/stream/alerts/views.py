"""GET /alerts/ (active and recently resolved alerts, from the alerts table every worker holds)
and GET /alerts/{fingerprint}/ (one alert with its deliveries, routed to the worker whose
outbox holds them: the owner of the alert's subject)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from faust.web import Request, Response, View

from monitor.stream.context import Context
from monitor.stream.web.http import answer, error, unavailable
from monitor.stream.web.routing import routed
from monitor.wire import ALERT_STATUSES

if TYPE_CHECKING:
    from monitor.stream.alerts.feature import Alerts

FINGERPRINT_RE: Final = re.compile(r"^[0-9a-f]{16}$")
ORDER: Final = {"firing": 0, "pending": 1, "resolved": 2}


def register_views(ctx: Context, alerts: Alerts) -> None:
    """Add GET /alerts/ and GET /alerts/{fingerprint}/."""

    @ctx.app.page("/alerts/")
    async def listing(view: View, request: Request) -> Response:
        """Active and recently resolved alerts (?status=firing|pending|resolved filters)."""
        status = request.query.get("status")
        if status is not None and status not in ALERT_STATUSES:
            return error(view, 400, f"status: one of {', '.join(ALERT_STATUSES)} expected")
        if not ctx.ready():
            return unavailable(view, "this worker is recovering the alerts table")
        found = [r.to_dict() for r in alerts.outbox.records() if status in (None, r.status)]
        found.sort(key=lambda r: (ORDER[r["status"]], -r["at"]))
        return answer(view, {"alerts": found, "count": len(found),
                             "retention_s": alerts.cfg.retention})

    @ctx.app.page("/alerts/{fingerprint}/")
    async def one(view: View, request: Request, fingerprint: str) -> Response:
        """One alert and the delivery status of its notifications."""
        if not FINGERPRINT_RE.match(fingerprint):
            return error(view, 400, "fingerprint: 16 hex digits expected")

        stored = alerts.outbox.alerts.get(fingerprint)
        if stored is None:
            return error(view, 404, f"no alert {fingerprint} (never fired, or expired)")

        async def local() -> Response:
            body = {key: value for key, value in stored.items() if key != "notified"}
            return answer(view, {**body, "deliveries": alerts.outbox.deliveries_of(fingerprint)})

        return await routed(ctx, view, request, alerts.outbox.entries, str(stored["subject"]),
                            local)
