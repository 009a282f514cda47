"""Outbound webhooks: the transactional outbox, its attempt log and per-integration holds."""

import uuid

from django.db import models
from django.utils import timezone

from integrations.models.integration import PartnerIntegration


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


class WebhookDelivery(models.Model):
    """One notification to a partner's ``webhook_url`` (a row of the transactional outbox).

    Written in the same transaction as the order change that raised it. ``id`` is the
    Standard Webhooks ``webhook-id``: the same on every retry, so partners can deduplicate.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        db_index=False,  # webhook_deliveries_integ_idx starts with it
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
        help_text="Empty for test pings.",
    )
    event = models.CharField(max_length=40)
    sequence = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per order and integration, +1 with each event, so partners can drop stale ones.",
    )
    payload = models.JSONField()
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made, replays included.")
    schedule_position = models.PositiveIntegerField(
        default=0, help_text="Failed attempts since the last replay: the place in the schedule."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "order", "sequence"],
                name="webhook_deliveries_unique_sequence",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=DeliveryState.values),
                name="webhook_deliveries_state_valid",
            ),
        ]
        indexes = [
            # Only pending rows, in due order: small however many deliveries succeeded.
            models.Index(
                fields=["next_attempt_at", "created_at"],
                condition=models.Q(state="pending"),
                name="webhook_deliveries_due_idx",
            ),
            models.Index(
                fields=["integration", "state", "created_at"],
                name="webhook_deliveries_integ_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.integration_id} ({self.state})"


# DeliveryAttempt.error_class of a try whose worker stopped before recording an outcome.
WORKER_LOST = "worker_lost"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery: the audit trail (never holds credentials)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # webhook_attempts_integ_idx starts with it
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    response_excerpt = models.TextField(blank=True)
    error_class = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        db_table = "webhook_delivery_attempts"
        ordering = ["attempted_at", "id"]
        indexes = [
            models.Index(fields=["integration", "attempted_at"], name="webhook_attempts_integ_idx"),
            # The dispatcher's "which integrations had attempts lately" (success-rate upkeep).
            models.Index(fields=["attempted_at"], name="webhook_attempts_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class DeliveryHoldState(models.TextChoices):
    OPEN = "open", "Delivering"
    HELD = "held", "Held"
    DRAINING = "draining", "Draining held deliveries"


class DeliveryHold(models.Model):
    """Per-integration delivery health: consecutive failures and whether sending is held.

    ``held`` after WEBHOOK_HOLD_AFTER_FAILURES consecutive retryable failures (probed on the
    retry schedule, drained in order on recovery) or on a 410 Gone (held until ops resume).
    While ``open``, a future ``next_probe_at`` is the partner's Retry-After: nothing of the
    integration is sent before it.
    """

    integration = models.OneToOneField(
        PartnerIntegration, on_delete=models.CASCADE, related_name="delivery_hold"
    )
    state = models.CharField(
        max_length=10, choices=DeliveryHoldState.choices, default=DeliveryHoldState.OPEN
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    manual_resume_required = models.BooleanField(
        default=False, help_text="Set on 410 Gone: no automatic probing, ops resume it."
    )
    probes = models.PositiveIntegerField(default=0)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_delivery_holds"
        verbose_name = "delivery hold"

    def __str__(self) -> str:
        return f"{self.integration_id}: {self.state}"
