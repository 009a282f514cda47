"""The dispatcher (Celery beat, every WEBHOOK_DISPATCH_INTERVAL seconds): whatever is due goes
to a worker, so a lost broker message or a dead worker loses nothing."""

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from integrations.models import DeliveryHold, DeliveryHoldState
from integrations.outbound.claim import deliveries_claim_due, deliveries_release, unclaimed
from integrations.outbound.holds import deliveries_release_unheld
from integrations.outbound.success_rate import integrations_health_refresh_recent

logger = logging.getLogger(__name__)


def deliveries_dispatch(
    *,
    enqueue_batch: Callable[[uuid.UUID], None],
    enqueue_drain: Callable[[object], None],
    max_deliveries: int = 5000,
) -> int:
    """Claim what is due in batches and hand each batch to a worker (Celery beat calls this).

    Also releases held deliveries whose integration is open again and starts probes and
    drains of held integrations. Returns how many deliveries were handed out.
    """
    handed_out = 0
    while handed_out < max_deliveries:
        claims = deliveries_claim_due(limit=settings.WEBHOOK_DISPATCH_BATCH_SIZE)
        if not claims:
            break
        for token, ids in claims:
            try:
                enqueue_batch(token)
            except Exception:
                logger.warning("Could not queue a delivery batch; retrying later", exc_info=True)
                deliveries_release(token=token)
                return handed_out
            handed_out += len(ids)
    deliveries_release_unheld()
    integrations_health_refresh_recent()
    now = timezone.now()
    due_holds = DeliveryHold.objects.filter(
        Q(state=DeliveryHoldState.HELD, manual_resume_required=False, next_probe_at__lte=now)
        | Q(state=DeliveryHoldState.DRAINING)
    ).filter(unclaimed(now), integration__sync_enabled=True)
    for integration_id in due_holds.values_list("integration_id", flat=True):
        try:
            enqueue_drain(integration_id)
        except Exception:
            logger.warning("Could not queue a drain of held deliveries", exc_info=True)
            break
    return handed_out
