"""Standard Webhooks signatures (https://www.standardwebhooks.com), through the spec's own library.

``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256, keyed with the secret's decoded bytes,
of ``{webhook-id}.{webhook-timestamp}.{body}``. Each attempt is signed with its own timestamp, so a
receiver that refuses old timestamps still accepts a retry sent hours later.
"""

from datetime import datetime

from standardwebhooks import Webhook


def signature_headers(*, secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The three headers a receiver needs to verify ``body``. ``timestamp`` must be timezone-aware UTC."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }
