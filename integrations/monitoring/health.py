"""Integration health as the admin's list filter shows it: failing, stale or healthy."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from integrations.models import SYNC_PERIODS, SyncFrequency

FAILING_SUCCESS_RATE = 90


def _sync_period(frequency: str) -> timedelta:
    if frequency == SyncFrequency.REAL_TIME:
        # Real-time integrations push on commit; a pull reconciles them on this period.
        return timedelta(seconds=settings.SYNC_REAL_TIME_RECONCILE_SECONDS)
    return SYNC_PERIODS[frequency]


def stale_integrations_q(now: datetime) -> Q:
    """Sync enabled, and no successful sync for two of its periods (counted from its
    creation when it never synced)."""
    overdue = Q()
    for frequency in SyncFrequency.values:
        cutoff = now - 2 * _sync_period(frequency)
        overdue |= Q(sync_frequency=frequency) & (
            Q(last_sync_at__lt=cutoff) | Q(last_sync_at__isnull=True, created_at__lt=cutoff)
        )
    return Q(sync_enabled=True) & overdue


def failing_integrations_q(now: datetime) -> Q:
    """An error in the last 24 hours, or a success rate under FAILING_SUCCESS_RATE."""
    return Q(last_error_at__gte=now - timedelta(hours=24)) | Q(
        success_rate__lt=FAILING_SUCCESS_RATE
    )
