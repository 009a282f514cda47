"""The sync dispatcher (Celery beat, every SYNC_DISPATCH_INTERVAL seconds): queue a sync for
each integration that is due; each one claims the lease itself, so two dispatchers or a
manual sync at the same moment still give one run."""

import logging
from collections.abc import Callable

from django.utils import timezone

from integrations.sync.lease import sync_runs_abandoned_close
from integrations.sync.schedule import integrations_due, scheduled_trigger

logger = logging.getLogger(__name__)


def syncs_dispatch(*, enqueue: Callable[[object, str], None]) -> int:
    """Queue the due syncs; returns how many were queued."""
    now = timezone.now()
    sync_runs_abandoned_close(now=now)
    queued = 0
    for integration in integrations_due(now).only("pk", "sync_frequency", "last_sync_at"):
        try:
            enqueue(integration.pk, scheduled_trigger(integration, now))
        except Exception:
            logger.warning("Could not queue syncs; the next dispatch tries again", exc_info=True)
            break
        queued += 1
    return queued
