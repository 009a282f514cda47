"""Celery tasks of the scheduled sync: thin wrappers over one service each.

They register under the names in ``queue``; ``IntegrationsConfig.ready()`` imports this
module so web, worker and beat all have them.
"""

import contextlib

from celery import shared_task
from celery.signals import beat_init
from django.conf import settings
from django.contrib.auth import get_user_model

from integrations.models import PartnerIntegration
from integrations.sync import queue
from integrations.sync.dispatch import syncs_dispatch
from integrations.sync.run import sync_run


@shared_task(name=queue.INTEGRATIONS_SYNC_DISPATCH, ignore_result=True)
def integrations_sync_dispatch() -> None:
    """Celery beat, every SYNC_DISPATCH_INTERVAL seconds: queue the syncs that are due."""
    syncs_dispatch(enqueue=queue.enqueue_scheduled_sync)


@shared_task(
    name=queue.INTEGRATION_SYNC,
    ignore_result=True,
    soft_time_limit=settings.SYNC_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.SYNC_TASK_SOFT_TIME_LIMIT + 60,
)
def integration_sync(integration_id: str, trigger: str, user_id=None) -> None:
    """Run one sync of an integration (scheduled or Sync now)."""
    integration = PartnerIntegration.objects.filter(pk=integration_id).first()
    if integration is None:
        return  # deleted since it was queued
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    sync_run(integration=integration, trigger=trigger, user=user)


@beat_init.connect
def _dispatch_soon_after_start(sender=None, **kwargs) -> None:
    # Beat's first interval run would come a whole interval after it starts: a fresh
    # `make run` (or a restart) dispatches a few seconds in instead.
    # If the broker is not up yet, the regular schedule dispatches.
    with contextlib.suppress(Exception):
        integrations_sync_dispatch.apply_async(countdown=5, expires=60)
