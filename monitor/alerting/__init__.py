"""Alerting without Faust: rules and their state machine, receivers' payloads, signing and the
HTTP delivery of one notification (the stream's alerts feature runs them)."""
