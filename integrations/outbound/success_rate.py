"""Integration health upkeep: success_rate, last_error_at, last_error_message.

Written by the outbound sender after every batch and refreshed by the dispatcher, so it lives
with them (monitoring only reads these columns)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from integrations.models import WORKER_LOST, DeliveryAttempt, PartnerIntegration

SUCCESS_RATE_WINDOW = timedelta(hours=24)
# How often stored rates of integrations without recent attempts are recomputed.
IDLE_RATE_REFRESH_SECONDS = 300


def integration_success_rate(*, integration_id, now: datetime | None = None) -> Decimal | None:
    """Successful webhook attempts over all attempts in the trailing 24 hours, in percent."""
    since = (now or timezone.now()) - SUCCESS_RATE_WINDOW
    # A try our own worker lost says nothing about the partner.
    totals = (
        DeliveryAttempt.objects.filter(integration_id=integration_id, attempted_at__gte=since)
        .exclude(error_class=WORKER_LOST)
        .aggregate(total=Count("id"), ok=Count("id", filter=Q(succeeded=True)))
    )
    if not totals["total"]:
        return None
    return (Decimal(totals["ok"] * 100) / Decimal(totals["total"])).quantize(Decimal("0.01"))


def integration_health_record(
    *,
    integration_id,
    error_at: datetime | None = None,
    error_message: str = "",
    force: bool = False,
) -> None:
    """Refresh success_rate and, when an attempt failed, last_error_at / last_error_message.

    Errors are written at once; the success rate (an aggregate over 24 hours of attempts) is
    recomputed at most every WEBHOOK_HEALTH_REFRESH_SECONDS per integration, so a busy
    integration does not pay for it on every batch.
    """
    fields: dict = {}
    interval = settings.WEBHOOK_HEALTH_REFRESH_SECONDS
    if (
        force
        or interval <= 0
        or cache.add(f"integration-health:{integration_id}", 1, timeout=interval)
    ):
        fields["success_rate"] = integration_success_rate(integration_id=integration_id)
    if error_at is not None:
        fields["last_error_at"] = error_at
        fields["last_error_message"] = error_message[:1000]
    if fields:
        PartnerIntegration.objects.filter(pk=integration_id).update(**fields)


def integrations_health_refresh_recent(*, now: datetime | None = None) -> int:
    """Recompute success_rate of integrations with attempts in the last two refresh intervals,
    so the rate catches up after a burst (the dispatcher calls this every few seconds).

    Every IDLE_RATE_REFRESH_SECONDS it also recomputes the stored rates of integrations
    without recent attempts: their attempts age out of the 24-hour window, and once the last
    one has left it the rate is empty again, not frozen at its last value.
    """
    now = now or timezone.now()
    since = now - timedelta(
        seconds=2 * max(settings.WEBHOOK_HEALTH_REFRESH_SECONDS, settings.WEBHOOK_DISPATCH_INTERVAL)
    )
    recent = set(
        DeliveryAttempt.objects.filter(attempted_at__gte=since).values_list(
            "integration_id", flat=True
        )
    )
    for integration_id in recent:
        integration_health_record(integration_id=integration_id, force=True)
    refreshed = len(recent)
    if cache.add("integration-health:idle", 1, timeout=IDLE_RATE_REFRESH_SECONDS):
        idle = (
            PartnerIntegration.objects.filter(success_rate__isnull=False)
            .exclude(pk__in=recent)
            .values_list("pk", flat=True)
        )
        for integration_id in idle:
            rate = integration_success_rate(integration_id=integration_id, now=now)
            PartnerIntegration.objects.filter(pk=integration_id).update(success_rate=rate)
            refreshed += 1
    return refreshed
