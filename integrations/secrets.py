"""Webhook secrets in the Standard Webhooks form (whsec_ + base64 of random bytes)."""

import base64
import secrets

WEBHOOK_SECRET_PREFIX = "whsec_"


def generate_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def mask_secret(value: str | None) -> str:
    """What the admin may show of a secret: its last 4 characters, if it is long enough."""
    if not value:
        return "(not set)"
    return "••••••••" + value[-4:] if len(value) > 8 else "••••••••"
