"""Sync now: ops ask for a sync of an integration from the admin (list action or the
button on its page); a worker runs it like a scheduled one, as trigger ``manual``."""

import logging
from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import date_format

from integrations.models import PartnerIntegration, SyncTrigger
from integrations.sync import queue
from integrations.sync.lease import sync_running
from integrations.sync.run import sync_refusal

logger = logging.getLogger(__name__)


@dataclass
class SyncNowResult:
    queued: bool
    message: str


def sync_now(*, integration: PartnerIntegration, user=None) -> SyncNowResult:
    """Queue a manual sync of ``integration``, or say why not."""
    if refused := sync_refusal(integration):
        return SyncNowResult(False, refused)
    running = sync_running(integration)
    if running is not None:
        started = date_format(timezone.localtime(running.started_at), "H:i:s")
        return SyncNowResult(
            False, f"A sync of {integration} is already running (started {started})."
        )
    user_id = user.pk if user is not None and user.is_authenticated else None
    try:
        queue.enqueue_sync(integration.pk, SyncTrigger.MANUAL, user_id=user_id)
    except Exception:
        logger.warning("Could not queue a manual sync of %s", integration, exc_info=True)
        return SyncNowResult(
            False,
            f"Could not queue a sync of {integration}: the task queue is unreachable. Run "
            f"`python manage.py sync_integration {integration.integration_name}` instead.",
        )
    return SyncNowResult(True, f"Sync of {integration} started; its run appears under Sync runs.")
