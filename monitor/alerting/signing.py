"""Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}">` with a `whsec_<base64>` secret."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["WebhookVerificationError", "sign_headers", "verify"]


def sign_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed request."""
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC),
                                     body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature}


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise WebhookVerificationError unless the headers sign `body` with `secret` (and the
    timestamp is within five minutes of now)."""
    Webhook(secret).verify(body, dict(headers), json_parse=False)
