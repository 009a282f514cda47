"""What partners receive: ``{"type", "timestamp", "data"}``, statuses in their own words."""

import json
from datetime import datetime

from chargecars.wire import rfc3339
from integrations.models import PartnerIntegration, WebhookDelivery

PING_EVENT = "ping"


def delivery_payload(*, integration: PartnerIntegration, order, change, event: str, sequence):
    """The body partners receive: ``{"type", "timestamp", "data"}``, statuses in their words."""
    previous = change.from_status or None
    return {
        "type": event,
        "timestamp": rfc3339(change.created_at),
        "data": {
            "order_id": str(order.pk),
            "order_number": order.order_number,
            "sequence": sequence,
            "status": integration.partner_status_for(change.to_status),
            "chargecars_status": change.to_status,
            "previous_status": integration.partner_status_for(previous) if previous else None,
            "previous_chargecars_status": previous,
            "partner_external_references": order.partner_external_references or {},
            "source": change.source,
        },
    }


def ping_payload(*, integration: PartnerIntegration, now: datetime) -> dict:
    """The body of a test webhook (``ping``), sent from the admin."""
    return {
        "type": PING_EVENT,
        "timestamp": rfc3339(now),
        "data": {"integration": integration.integration_name, "message": "Test webhook"},
    }


def delivery_body(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=False)
