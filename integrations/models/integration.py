"""A partner's integration (the source document's 19 columns) and its retired secrets."""

import uuid
from datetime import timedelta

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


# How long a scheduled (not real-time) integration waits between two syncs.
SYNC_PERIODS: dict[str, timedelta] = {
    SyncFrequency.EVERY_15_MINUTES: timedelta(minutes=15),
    SyncFrequency.HOURLY: timedelta(hours=1),
    SyncFrequency.DAILY: timedelta(days=1),
}


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
