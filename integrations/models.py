import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from integrations import config
from integrations.encryption import EncryptedJSONField, EncryptedTextField


class AuthenticationType(models.TextChoices):
    API_KEY = "api_key", "API key"
    OAUTH2 = "oauth2", "OAuth 2.0 (client credentials)"
    BASIC_AUTH = "basic_auth", "Basic auth"
    BEARER_TOKEN = "bearer_token", "Bearer token"


class SyncFrequency(models.TextChoices):
    REAL_TIME = "real_time", "Real time"
    EVERY_15_MINUTES = "every_15_minutes", "Every 15 minutes"
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"


class PartnerIntegrationQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class PartnerIntegration(models.Model):
    """One partner's API configuration: exactly the source document's 19 columns.

    Everything else about an integration (secret history, deliveries, sync runs,
    inbound events, alerts) lives in related tables.
    """

    # Basic configuration
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    partner_organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        related_name="integrations",
        db_column="partner_organization_id",
    )
    integration_name = models.TextField(
        unique=True,
        validators=[config.validate_integration_name],
        help_text="URL-safe identifier used in the partner's API paths, e.g. volvo_dealer_api.",
    )
    api_base_url = models.TextField(
        null=True,
        blank=True,
        validators=[config.validate_outbound_url],
        help_text="Partner API base URL, e.g. https://api.volvo-dealer.com/v1",
    )
    api_version = models.TextField(null=True, blank=True)

    # Authentication
    authentication_type = models.CharField(
        max_length=20, choices=AuthenticationType.choices, default=AuthenticationType.API_KEY
    )
    api_credentials = EncryptedJSONField(null=True, blank=True)

    # Webhooks
    webhook_url = models.TextField(
        null=True,
        blank=True,
        validators=[config.validate_outbound_url],
        help_text="Partner endpoint that receives our signed status webhooks.",
    )
    webhook_secret = EncryptedTextField(null=True, blank=True)
    webhook_events = models.JSONField(
        null=True, blank=True, validators=[config.validate_webhook_events]
    )

    # Status mapping
    status_mapping = models.JSONField(
        null=True, blank=True, validators=[config.validate_status_mapping]
    )

    # Configuration
    is_active = models.BooleanField(default=True)
    sync_enabled = models.BooleanField(default=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    sync_frequency = models.CharField(
        max_length=20, choices=SyncFrequency.choices, default=SyncFrequency.REAL_TIME
    )

    # Monitoring
    success_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percentage of successful partner calls over the last 24 hours.",
    )
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error_message = models.TextField(null=True, blank=True)

    objects = PartnerIntegrationQuerySet.as_manager()

    class Meta:
        db_table = "partner_integrations"
        ordering = ["integration_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(success_rate__gte=0, success_rate__lte=100)
                | models.Q(success_rate__isnull=True),
                name="partner_integrations_success_rate_percentage",
            ),
            models.CheckConstraint(
                condition=models.Q(authentication_type__in=AuthenticationType.values),
                name="partner_integrations_authentication_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(sync_frequency__in=SyncFrequency.values),
                name="partner_integrations_sync_frequency_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.integration_name

    def clean(self) -> None:
        super().clean()
        config.validate_credentials(self.authentication_type, self.api_credentials)

    @property
    def subscribed_events(self) -> list[str]:
        return list(self.webhook_events or [])

    def partner_status_for(self, chargecars_status: str) -> str:
        """Our status in the partner's vocabulary (unchanged when the mapping has no entry)."""
        mapping = (self.status_mapping or {}).get("chargecars_to_partner", {})
        return mapping.get(chargecars_status, chargecars_status)

    def chargecars_status_for(self, partner_status: str) -> str | None:
        """The partner's status in ours, or None when this integration does not know it."""
        return (self.status_mapping or {}).get("partner_to_chargecars", {}).get(partner_status)


class RetiredWebhookSecret(models.Model):
    """A webhook secret replaced by a rotation, still valid until ``valid_until``.

    During that grace period inbound requests signed with it are accepted and outbound
    webhooks carry a signature made with it next to the new one.
    """

    integration = models.ForeignKey(
        PartnerIntegration, on_delete=models.CASCADE, related_name="retired_secrets"
    )
    secret = EncryptedTextField()
    retired_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(db_index=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "partner_integration_retired_secrets"
        ordering = ["-retired_at"]

    def __str__(self) -> str:
        return f"{self.integration} secret retired {self.retired_at:%Y-%m-%d %H:%M}"


# --- Inbound partner API ---------------------------------------------------------


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


# --- Outbound webhooks: the transactional outbox and its delivery log -------------------


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
