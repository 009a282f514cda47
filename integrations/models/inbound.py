"""The partner API's audit trail and idempotency record."""

import uuid

from django.db import models
from django.utils import timezone

from integrations.models.integration import PartnerIntegration


class InboundEvent(models.Model):
    """One request received on the partner API: the audit trail and the idempotency record.

    A verified original request holds the (integration, webhook-id) pair exclusively, so a
    repeated webhook-id is answered from ``response_status``/``response_body`` instead of
    being applied again. Repeats and staff re-processing are stored as their own rows
    pointing at the ``original``.
    """

    class Kind(models.TextChoices):
        REQUEST = "request", "Request"
        DUPLICATE = "duplicate", "Duplicate (answered from the original)"
        REPROCESS = "reprocess", "Re-processed by staff"

    class Verdict(models.TextChoices):
        VALID = "valid", "Valid"
        MISSING = "missing", "Missing headers"
        MALFORMED = "malformed", "Malformed headers or body"
        EXPIRED = "expired", "Timestamp outside tolerance"
        MISMATCH = "mismatch", "No matching signature"
        NOT_CHECKED = "not_checked", "Not checked"

    class Outcome(models.TextChoices):
        CREATED = "created", "Order created"
        EXISTING = "existing", "Existing order returned"
        APPLIED = "applied", "Status applied"
        STALE = "stale", "Stale update ignored"
        UNCHANGED = "unchanged", "Status already current"
        READ = "read", "Order read"
        REJECTED = "rejected", "Rejected (invalid input or transition)"
        UNAUTHORIZED = "unauthorized", "Signature refused"
        FORBIDDEN = "forbidden", "Integration disabled"
        RATE_LIMITED = "rate_limited", "Rate limited"
        TOO_LARGE = "too_large", "Body too large"
        REPLAYED = "replayed", "Answered from the original"
        ERROR = "error", "Internal error"

    class Action(models.TextChoices):
        ORDER_CREATE = "order_create", "Create order"
        STATUS_UPDATE = "status_update", "Status update"
        ORDER_READ = "order_read", "Read order"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="inbound_events",
        db_index=False,  # the (integration, received_at) index serves these lookups
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REQUEST)
    original = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="repeats"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    webhook_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    headers = models.JSONField(default=dict, help_text="Request headers, signature removed.")
    body = models.TextField(blank=True, help_text="The request body, capped.")
    body_truncated = models.BooleanField(default=False)
    signature_verdict = models.CharField(max_length=12, choices=Verdict.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    partner_order_id = models.CharField(max_length=100, blank=True)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_events",
    )

    class Meta:
        db_table = "partner_inbound_events"
        ordering = ["-received_at"]
        constraints = [
            # Idempotency: one verified original per webhook-id and integration. Unsigned
            # junk cannot claim a webhook-id, so it cannot block the partner's real request.
            # A rate-limited request was not answered, so it does not claim its id either:
            # the partner retries it with the same webhook-id.
            models.UniqueConstraint(
                fields=["integration", "webhook_id"],
                condition=models.Q(kind="request", signature_verdict="valid")
                & ~models.Q(outcome="rate_limited"),
                name="inbound_events_unique_webhook_id",
            ),
        ]
        indexes = [
            models.Index(fields=["integration", "-received_at"], name="inbound_events_recent_idx"),
            models.Index(fields=["partner_order_id"], name="inbound_events_partner_idx"),
            models.Index(fields=["outcome", "-received_at"], name="inbound_events_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.action} {self.webhook_id or '-'}"
