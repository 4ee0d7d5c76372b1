"""The alerts feature (rules in the stream, the alerts table, the outbox and its couriers);
see feature.py."""

from monitor.stream.alerts.feature import Alerts

__all__ = ["Alerts"]
