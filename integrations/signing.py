"""Standard Webhooks signatures, both ways, with the integration's current and grace secrets."""

from datetime import datetime

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.models import PartnerIntegration, RetiredWebhookSecret


def webhook_secrets_valid_now(integration: PartnerIntegration) -> list[str]:
    """The current secret first, then rotated-out secrets still in their grace period."""
    secrets = [integration.webhook_secret] if integration.webhook_secret else []
    retired = RetiredWebhookSecret.objects.filter(
        integration=integration, valid_until__gt=timezone.now()
    ).values_list("secret", flat=True)
    return secrets + list(retired)


def signature_headers(
    *, secrets: list[str], msg_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """Headers for an outbound message: one v1 signature per secret, space-separated."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
