"""Integration health as the admin's list filter shows it: failing, stale or healthy."""

from datetime import datetime, timedelta

from django.db.models import Q

from integrations.models import SYNC_PERIODS, SyncFrequency

FAILING_SUCCESS_RATE = 90
# Real-time integrations push on commit; their scheduled sync runs at least hourly.
REAL_TIME_STALE_AFTER = timedelta(hours=2)


def stale_integrations_q(now: datetime) -> Q:
    """Sync enabled, and not synced within twice its period (or never synced)."""
    overdue = Q(last_sync_at__isnull=True)
    for frequency, period in SYNC_PERIODS.items():
        overdue |= Q(sync_frequency=frequency, last_sync_at__lt=now - 2 * period)
    overdue |= Q(
        sync_frequency=SyncFrequency.REAL_TIME, last_sync_at__lt=now - REAL_TIME_STALE_AFTER
    )
    return Q(sync_enabled=True) & overdue


def failing_integrations_q(now: datetime) -> Q:
    """An error in the last 24 hours, or a success rate under FAILING_SUCCESS_RATE."""
    return Q(last_error_at__gte=now - timedelta(hours=24)) | Q(
        success_rate__lt=FAILING_SUCCESS_RATE
    )
