"""Handing syncs to Celery, by registered task name (``tasks`` registers them; nothing
imports ``tasks`` but the app's ``ready()``)."""

from django.conf import settings

from chargecars.celery import app

INTEGRATION_SYNC = "integrations.sync.tasks.integration_sync"
INTEGRATIONS_SYNC_DISPATCH = "integrations.sync.tasks.integrations_sync_dispatch"


def enqueue_sync(integration_id, trigger: str, *, user_id=None, expires: float | None = None):
    """Queue one sync. Raises when the broker is unreachable. A scheduled sync's message
    expires before the next dispatch (which queues it again if it is still due)."""
    app.tasks[INTEGRATION_SYNC].apply_async(
        args=(str(integration_id), trigger),
        kwargs={"user_id": user_id},
        expires=expires,
    )


def enqueue_scheduled_sync(integration_id, trigger: str) -> None:
    enqueue_sync(integration_id, trigger, expires=settings.SYNC_DISPATCH_INTERVAL)
