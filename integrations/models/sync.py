"""Scheduled sync: the runs and their HTTP requests, the lease, feed mappings and drift."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from integrations.models.integration import PartnerIntegration


class SyncTrigger(models.TextChoices):
    BEAT = "beat", "Scheduled (beat)"
    MANUAL = "manual", "Manual"
    CATCH_UP = "catch_up", "Catch-up after downtime"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (continues next time)"
    FAILED = "failed", "Failed"


# The record counters of a run, in the order the admin shows them.
SYNC_RUN_COUNTERS = (
    "records_pulled",
    "records_created",
    "records_updated",
    "records_unchanged",
    "records_stale",
    "records_skipped",
    "records_drift",
)


class SyncRun(models.Model):
    """One sync of one integration: what it pushed, pulled and applied, and how it ended."""

    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="sync_runs",
        db_index=False,  # integration_sync_runs_integ_idx starts with it
    )
    trigger = models.CharField(max_length=10, choices=SyncTrigger.choices)
    status = models.CharField(
        max_length=10, choices=SyncRunStatus.choices, default=SyncRunStatus.RUNNING
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who pressed Sync now (manual runs).",
    )
    updated_since = models.DateTimeField(
        null=True, blank=True, help_text="The watermark asked from the partner (updated_since)."
    )
    resumed = models.BooleanField(
        default=False, help_text="Continued where the previous, partial run stopped."
    )
    pages = models.PositiveIntegerField(default=0)
    records_pulled = models.PositiveIntegerField("pulled", default=0)
    records_created = models.PositiveIntegerField("created", default=0)
    records_updated = models.PositiveIntegerField("updated", default=0)
    records_unchanged = models.PositiveIntegerField("unchanged", default=0)
    records_stale = models.PositiveIntegerField("stale", default=0)
    records_skipped = models.PositiveIntegerField("skipped", default=0)
    records_drift = models.PositiveIntegerField("drift", default=0)
    deliveries_pushed = models.PositiveIntegerField(default=0)
    http_requests = models.PositiveIntegerField(
        default=0, help_text="HTTP requests to the partner (token requests and retries included)."
    )
    http_failures = models.PositiveIntegerField(
        default=0, help_text="Requests without a usable answer: errors, timeouts, 429, 5xx."
    )
    error = models.TextField(blank=True)
    skipped_records = models.JSONField(
        default=list,
        blank=True,
        help_text="The first SYNC_SKIPPED_RECORDS_KEPT skipped records with the reason.",
    )

    class Meta:
        db_table = "integration_sync_runs"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SyncRunStatus.values), name="sync_runs_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["integration", "-started_at"], name="sync_runs_integ_idx"),
            models.Index(fields=["status", "-started_at"], name="sync_runs_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} sync {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SyncRequest(models.Model):
    """One HTTP request a sync made to the partner (the feed or its token endpoint).

    Rows, like webhook delivery attempts, so a success rate over any window can count them
    (``integration``, ``requested_at``, ``succeeded``).
    """

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="requests")
    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # sync_requests_integ_idx starts with it
    )
    requested_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=10)
    url = models.TextField(help_text="Without query string or credentials.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "integration_sync_requests"
        ordering = ["requested_at", "id"]
        indexes = [
            models.Index(fields=["integration", "requested_at"], name="sync_requests_integ_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status_code or self.error[:40]}"


class SyncState(models.Model):
    """Per integration: the sync lease, and where an unfinished pass goes on.

    The lease (``lease_token`` until ``leased_until``) is taken by one conditional UPDATE,
    so two dispatchers or a manual sync racing a scheduled one cannot both run; a worker
    killed mid-sync leaves a lease that expires. A partial run leaves ``resume_cursor``
    (with the watermark and start of its pass), which the next run continues from.
    """

    integration = models.OneToOneField(
        PartnerIntegration, on_delete=models.CASCADE, primary_key=True, related_name="sync_state"
    )
    lease_token = models.UUIDField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        SyncRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The run holding (or last holding) the lease.",
    )
    resume_cursor = models.TextField(blank=True)
    resume_since = models.DateTimeField(null=True, blank=True)
    pass_started_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="After a failure: no scheduled sync before this."
    )

    class Meta:
        db_table = "integration_sync_states"

    def __str__(self) -> str:
        return f"sync state of {self.integration_id}"


class FeedPaging(models.TextChoices):
    CURSOR = "cursor", "Cursor (next-cursor key in each page)"
    PAGE = "page", "Page numbers (1, 2, ... until a page is not full)"


class FeedTimeFormat(models.TextChoices):
    RFC3339 = "rfc3339", "RFC 3339 (2025-06-01T10:30:00Z)"
    UNIX = "unix", "Unix seconds (1748773800)"


class FeedMapping(models.Model):
    """How to read a custom partner's order feed; without one, the default contract applies.

    ``field_mapping`` maps our field names to dotted paths in the partner's record
    (``customer.name``, ``lines.0.sku``). Validated in ``integrations.sync.mapping``.
    """

    integration = models.OneToOneField(
        PartnerIntegration, on_delete=models.CASCADE, related_name="feed_mapping"
    )
    path = models.CharField(
        max_length=300, default="orders", help_text="Appended to the integration's api_base_url."
    )
    paging = models.CharField(max_length=10, choices=FeedPaging.choices, default="cursor")
    page_size = models.PositiveSmallIntegerField(
        default=500, help_text="Records asked per page (1-500)."
    )
    updated_since_param = models.CharField(max_length=100, default="updated_since")
    limit_param = models.CharField(max_length=100, default="limit")
    cursor_param = models.CharField(
        max_length=100, default="cursor", help_text="Cursor paging: sends the next cursor."
    )
    page_param = models.CharField(
        max_length=100, default="page", help_text="Page-number paging: sends 1, 2, ..."
    )
    time_format = models.CharField(
        max_length=10,
        choices=FeedTimeFormat.choices,
        default="rfc3339",
        help_text="How updated_since is sent and updated_at is read.",
    )
    extra_query = models.JSONField(
        default=dict, blank=True, help_text='Fixed query parameters, e.g. {"state": "all"}.'
    )
    items_key = models.CharField(
        max_length=200, default="orders", help_text="Dotted path of the list of records in a page."
    )
    next_cursor_key = models.CharField(
        max_length=200,
        default="next_cursor",
        help_text="Cursor paging: dotted path of the next cursor (null or absent: last page).",
    )
    field_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="Our field -> dotted path in the partner's record. Empty: the default "
        "contract's names.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "integration_feed_mappings"

    def __str__(self) -> str:
        return f"feed mapping of {self.integration}"


class DriftSource(models.TextChoices):
    SYNC = "sync", "Sync (pulled)"
    API = "api", "Partner API call"


def current_drift_q() -> Q:
    """Drift rows that still hold: the partner's status differs from the order's, and no
    newer partner status was accepted for the order since (which supersedes this one)."""
    return ~Q(partner_chargecars_status=F("order__status")) & (
        Q(order__partner_status_occurred_at__isnull=True)
        | Q(reported_at__gte=F("order__partner_status_occurred_at"))
    )


class OrderDrift(models.Model):
    """The partner's status for an order, as last reported, when our engine could not
    reach it in one allowed transition (the order was left as it is).

    One row per order, updated by each refused report. Whether it still disagrees is read
    from the order (``current_drift_q``): a later accepted partner status or a staff change
    that brings the order to the partner's status ends the drift without writing here.
    """

    order = models.OneToOneField(
        "orders.Order", on_delete=models.CASCADE, related_name="partner_drift"
    )
    integration = models.ForeignKey(
        PartnerIntegration,
        on_delete=models.CASCADE,
        related_name="drift",
        db_index=False,  # order_drift_integ_idx starts with it
    )
    partner_status = models.CharField(max_length=100, help_text="In the partner's vocabulary.")
    partner_chargecars_status = models.CharField(
        max_length=20, help_text="The partner's status in ours (status_mapping)."
    )
    our_status_when_reported = models.CharField(max_length=20)
    reported_at = models.DateTimeField(help_text="The partner's time of the status.")
    source = models.CharField(max_length=10, choices=DriftSource.choices)
    since = models.DateTimeField(default=timezone.now, help_text="When we first saw it differ.")
    last_seen_at = models.DateTimeField(default=timezone.now)
    sync_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "order_partner_drift"
        ordering = ["since"]
        verbose_name = "drift"
        verbose_name_plural = "drift report"
        indexes = [models.Index(fields=["integration", "since"], name="order_drift_integ_idx")]

    def __str__(self) -> str:
        return f"{self.order_id}: partner {self.partner_status}"
