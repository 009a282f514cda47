"""The integration and its related tables, one module per direction of traffic."""

from integrations.models.inbound import InboundEvent
from integrations.models.integration import (
    SYNC_PERIODS,
    AuthenticationType,
    PartnerIntegration,
    PartnerIntegrationQuerySet,
    RetiredWebhookSecret,
    SyncFrequency,
)
from integrations.models.outbound import (
    WORKER_LOST,
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    WebhookDelivery,
)

__all__ = [
    "SYNC_PERIODS",
    "WORKER_LOST",
    "AuthenticationType",
    "DeliveryAttempt",
    "DeliveryHold",
    "DeliveryHoldState",
    "DeliveryState",
    "InboundEvent",
    "PartnerIntegration",
    "PartnerIntegrationQuerySet",
    "RetiredWebhookSecret",
    "SyncFrequency",
    "WebhookDelivery",
]
