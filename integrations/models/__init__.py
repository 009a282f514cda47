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
from integrations.models.sync import (
    SYNC_RUN_COUNTERS,
    DriftSource,
    FeedMapping,
    FeedPaging,
    FeedTimeFormat,
    OrderDrift,
    SyncRequest,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncTrigger,
    current_drift_q,
)

__all__ = [
    "SYNC_PERIODS",
    "SYNC_RUN_COUNTERS",
    "WORKER_LOST",
    "AuthenticationType",
    "DeliveryAttempt",
    "DeliveryHold",
    "DeliveryHoldState",
    "DeliveryState",
    "DriftSource",
    "FeedMapping",
    "FeedPaging",
    "FeedTimeFormat",
    "InboundEvent",
    "OrderDrift",
    "PartnerIntegration",
    "PartnerIntegrationQuerySet",
    "RetiredWebhookSecret",
    "SyncFrequency",
    "SyncRequest",
    "SyncRun",
    "SyncRunStatus",
    "SyncState",
    "SyncTrigger",
    "WebhookDelivery",
    "current_drift_q",
]
