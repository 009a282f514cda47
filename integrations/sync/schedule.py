"""When a sync is due: per ``sync_frequency`` since ``last_sync_at``, at once for a
never-synced integration or a partial pass, never while leased, and after a failure not
before its backoff (``not_before``)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from integrations.models import (
    SYNC_PERIODS,
    PartnerIntegration,
    SyncFrequency,
    SyncState,
    SyncTrigger,
)


def sync_period(frequency: str) -> timedelta:
    """The time between two syncs: the frequency's, or the real-time reconciliation's."""
    if frequency == SyncFrequency.REAL_TIME:
        return timedelta(seconds=settings.SYNC_REAL_TIME_RECONCILE_SECONDS)
    return SYNC_PERIODS[frequency]


def _period_elapsed_q(now: datetime) -> Q:
    elapsed = Q(last_sync_at__isnull=True)
    for frequency in SyncFrequency.values:
        elapsed |= Q(sync_frequency=frequency, last_sync_at__lte=now - sync_period(frequency))
    return elapsed


def integrations_due(now: datetime):
    """Active, sync-enabled integrations whose sync is due at ``now`` and not running."""
    free = Q(sync_state__leased_until__isnull=True) | Q(sync_state__leased_until__lt=now)
    not_held_back = Q(sync_state__not_before__isnull=True) | Q(sync_state__not_before__lte=now)
    continuing = Q(sync_state__resume_cursor__gt="")
    return PartnerIntegration.objects.filter(
        Q(is_active=True, sync_enabled=True),
        free,
        not_held_back,
        _period_elapsed_q(now) | continuing,
    ).order_by("last_sync_at")


def sync_is_due(integration: PartnerIntegration, state: SyncState, now: datetime) -> bool:
    """The same rule for one integration whose state row is at hand (lease aside)."""
    if not (integration.is_active and integration.sync_enabled):
        return False
    if state.not_before and state.not_before > now:
        return False
    if state.resume_cursor or integration.last_sync_at is None:
        return True
    return integration.last_sync_at <= now - sync_period(integration.sync_frequency)


def scheduled_trigger(integration: PartnerIntegration, now: datetime) -> str:
    """``catch_up`` when at least one whole period was missed (after downtime), else beat.
    Either way one sync runs: it asks for everything since the last successful one."""
    last = integration.last_sync_at
    if last is not None and now - last >= 2 * sync_period(integration.sync_frequency):
        return SyncTrigger.CATCH_UP
    return SyncTrigger.BEAT


def failure_backoff(integration: PartnerIntegration, failures: int) -> timedelta:
    """The wait before a scheduled retry after ``failures`` failed runs in a row: one
    minute, doubling, never longer than the integration's period."""
    wait = timedelta(minutes=2 ** min(failures - 1, 16))
    return min(wait, sync_period(integration.sync_frequency))
