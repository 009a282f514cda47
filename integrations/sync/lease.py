"""The sync lease: at most one sync of an integration at a time, whoever starts it.

Claiming is one conditional UPDATE of the integration's ``SyncState`` row (free, or its
lease expired), so two dispatchers, several workers and a manual sync racing get one
winner; the winner opens its run in the same transaction. A run renews the lease after
each page; a worker killed mid-sync leaves a lease that expires, and whoever claims next
closes the abandoned run as failed.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import PartnerIntegration, SyncRun, SyncRunStatus, SyncState
from integrations.sync.schedule import sync_is_due


@dataclass
class Lease:
    run: SyncRun
    token: uuid.UUID
    state: SyncState


class _NotDue(Exception):
    pass


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def _free(now: datetime) -> Q:
    return Q(leased_until__isnull=True) | Q(leased_until__lt=now)


ABANDONED = (
    "The sync stopped before it finished (its worker was stopped or lost); its lease "
    "expired, and the next sync started over from the last successful one."
)


def sync_runs_abandoned_close(*, now: datetime | None = None) -> int:
    """Runs still ``running`` whose lease expired: their worker is gone. Marked failed."""
    now = now or timezone.now()
    alive = SyncState.objects.filter(leased_until__gte=now, run__isnull=False).values("run_id")
    return (
        SyncRun.objects.filter(status=SyncRunStatus.RUNNING)
        .exclude(pk__in=alive)
        .update(status=SyncRunStatus.FAILED, finished_at=now, error=ABANDONED)
    )


def sync_lease_claim(
    *, integration: PartnerIntegration, trigger: str, scheduled: bool, user=None
) -> Lease | None:
    """Take the integration's lease and open its run; None when another sync holds it, or,
    for a ``scheduled`` claim, when the sync is no longer due (another one just ran)."""
    now = timezone.now()
    SyncState.objects.bulk_create([SyncState(integration=integration)], ignore_conflicts=True)
    token = uuid.uuid4()
    try:
        with transaction.atomic():
            claimed = (
                SyncState.objects.filter(pk=integration.pk)
                .filter(_free(now))
                .update(lease_token=token, leased_until=_lease_end(now))
            )
            if not claimed:
                return None
            state = SyncState.objects.select_related("integration").get(pk=integration.pk)
            if scheduled and not sync_is_due(state.integration, state, now):
                raise _NotDue
            if state.run_id:
                SyncRun.objects.filter(pk=state.run_id, status=SyncRunStatus.RUNNING).update(
                    status=SyncRunStatus.FAILED, finished_at=now, error=ABANDONED
                )
            run = SyncRun.objects.create(
                integration=state.integration, trigger=trigger, started_at=now, started_by=user
            )
            state.run = run
            state.save(update_fields=["run"])
    except _NotDue:
        return None
    return Lease(run=run, token=token, state=state)


def sync_lease_renew(lease: Lease) -> bool:
    """Extend the lease; False when it was lost (it expired and another sync took it)."""
    return bool(
        SyncState.objects.filter(pk=lease.state.pk, lease_token=lease.token).update(
            leased_until=_lease_end(timezone.now())
        )
    )


def sync_lease_release(lease: Lease, **state_changes) -> None:
    """Give the lease back, writing ``state_changes`` (resume point, failures) with it."""
    SyncState.objects.filter(pk=lease.state.pk, lease_token=lease.token).update(
        lease_token=None, leased_until=None, **state_changes
    )


def sync_running(integration: PartnerIntegration) -> SyncRun | None:
    """The run holding the integration's lease now, if any."""
    state = (
        SyncState.objects.filter(pk=integration.pk, leased_until__gte=timezone.now())
        .select_related("run")
        .first()
    )
    return state.run if state else None
