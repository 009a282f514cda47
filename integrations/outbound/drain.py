"""Probing a held integration, and draining its held deliveries in order once it answers."""

import time
from datetime import timedelta

from django.utils import timezone

from integrations.models import DeliveryHold, DeliveryHoldState, DeliveryState, WebhookDelivery
from integrations.outbound.claim import unclaimed
from integrations.outbound.holds import hold_open, hold_probe_failed
from integrations.outbound.retry import FAIL, SUCCESS
from integrations.outbound.selectors import HOLDING_STATES
from integrations.outbound.send import deliveries_send_in_order


def deliveries_drain(*, integration_id, time_budget: float = 60.0) -> bool:
    """Probe a held integration, or drain its held deliveries in order once it answers.

    While held, only the oldest held delivery is tried (on the probe schedule); a success
    turns the hold into ``draining``, which sends every held delivery oldest first and stops
    at the first retryable failure (back to held). Returns True when more is left to drain.
    """
    now = timezone.now()
    claimed = (
        DeliveryHold.objects.filter(integration_id=integration_id, state__in=HOLDING_STATES)
        .filter(unclaimed(now))
        .update(claimed_until=now + timedelta(seconds=time_budget + 60))
    )
    if not claimed:
        return False
    hold = DeliveryHold.objects.select_related("integration").get(integration_id=integration_id)
    integration = hold.integration
    try:
        if hold.state == DeliveryHoldState.HELD and (
            hold.manual_resume_required or (hold.next_probe_at and hold.next_probe_at > now)
        ):
            return False
        if not integration.is_active or not integration.webhook_url:
            return False  # kept held until the integration is usable again
        if not integration.sync_enabled:
            return False  # paused: kept held, drained once sync is switched on
        started = time.monotonic()
        while time.monotonic() - started < time_budget:
            delivery = (
                WebhookDelivery.objects.filter(integration=integration, state=DeliveryState.HELD)
                .order_by("created_at", "sequence")
                .first()
            )
            if delivery is None:
                hold_open(integration_id)
                return False
            batch = deliveries_send_in_order([delivery], integration=integration, token=None)
            result = batch.results[0][1]
            hold.refresh_from_db()
            if result.outcome in (SUCCESS, FAIL):
                if hold.state == DeliveryHoldState.HELD:
                    DeliveryHold.objects.filter(pk=hold.pk).update(
                        state=DeliveryHoldState.DRAINING, consecutive_failures=0
                    )
                continue
            hold_probe_failed(hold, retry_after=result.retry_after)
            return False
        return True
    finally:
        DeliveryHold.objects.filter(integration_id=integration_id).update(claimed_until=None)
