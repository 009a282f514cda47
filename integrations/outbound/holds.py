"""Holding an integration's deliveries: counting failures, tripping a hold, probing it on the
retry schedule, and lifting it (by itself once drained, or by ops after a 410)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.models import (
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    PartnerIntegration,
    WebhookDelivery,
)
from integrations.outbound import queue
from integrations.outbound.payload import PING_EVENT
from integrations.outbound.retry import GONE, RETRY, SUCCESS, retry_delay
from integrations.outbound.selectors import HOLDING_STATES
from integrations.outbound.transport import AttemptResult

logger = logging.getLogger(__name__)


def hold_update(
    outcomes: list[tuple[WebhookDelivery, AttemptResult]], now: datetime, hold: DeliveryHold
) -> str:
    """Count consecutive retryable failures on ``hold`` (locked by the caller); hold the
    integration's deliveries past the threshold or on 410 Gone. Returns the reason when it
    held them."""
    results = [r for d, r in outcomes if d.event != PING_EVENT]
    if not results:
        return ""
    gone = next((r for r in results if r.outcome == GONE), None)
    trailing = 0
    any_success = False
    for result in results:
        if result.outcome == SUCCESS:
            trailing, any_success = 0, True
        elif result.outcome == RETRY:
            trailing += 1
    if not gone and not trailing:
        waiting = hold.state == DeliveryHoldState.OPEN and hold.next_probe_at is not None
        if any_success and (hold.consecutive_failures or waiting):
            # The partner took a delivery: its earlier Retry-After no longer applies.
            hold.consecutive_failures = 0
            hold.next_probe_at = None if waiting else hold.next_probe_at
            hold.save(update_fields=["consecutive_failures", "next_probe_at"])
        return ""
    hold.consecutive_failures = trailing if any_success else hold.consecutive_failures + trailing
    reason = ""
    if gone:
        hold.manual_resume_required = True
        reason = "The partner answered 410 Gone: deliveries are paused until ops resume them."
    elif (
        hold.state == DeliveryHoldState.OPEN
        and hold.consecutive_failures >= settings.WEBHOOK_HOLD_AFTER_FAILURES
    ):
        reason = (
            f"{hold.consecutive_failures} consecutive failed attempts (last: "
            f"{results[-1].summary}); deliveries are held and will drain when the partner "
            "recovers."
        )
    if reason:
        _hold_trip(hold, reason=reason, now=now, retry_after=results[-1].retry_after or 0.0)
    else:
        fields = ["consecutive_failures"]
        wait = max((r.retry_after or 0.0 for r in results if r.outcome == RETRY), default=0.0)
        if wait and hold.state == DeliveryHoldState.OPEN:
            # The partner's Retry-After holds for the whole integration: deliveries
            # written after it wait too (see deliveries_send_claimed).
            until = now + timedelta(seconds=wait)
            if hold.next_probe_at is None or hold.next_probe_at < until:
                hold.next_probe_at = until
                fields.append("next_probe_at")
        hold.save(update_fields=fields)
    return reason


def _probe_delay(*, probes: int, retry_after: float | None) -> float:
    """The wait before the next probe of a held integration after ``probes`` failed ones:
    the retry schedule from its second entry on, its last entry once past the end, and never
    less than the partner's Retry-After."""
    return retry_delay(probes + 1, retry_after=retry_after, repeat_last=True)


def _hold_trip(hold: DeliveryHold, *, reason: str, now: datetime, retry_after: float = 0.0) -> None:
    hold.state = DeliveryHoldState.HELD
    hold.reason = reason
    hold.held_at = now
    hold.probes = 0
    hold.next_probe_at = now + timedelta(seconds=_probe_delay(probes=0, retry_after=retry_after))
    hold.save()
    WebhookDelivery.objects.filter(
        integration_id=hold.integration_id, state=DeliveryState.PENDING
    ).exclude(event=PING_EVENT).update(state=DeliveryState.HELD)
    logger.error("Webhook deliveries held for integration %s: %s", hold.integration_id, reason)


def hold_probe_failed(hold: DeliveryHold, *, retry_after: float | None) -> None:
    """A probe or drain send still failed (or was gone): stay held, probe again later on the
    schedule, and not before the partner's Retry-After."""
    probes = hold.probes + 1
    delay = _probe_delay(probes=probes, retry_after=retry_after)
    DeliveryHold.objects.filter(pk=hold.pk).update(
        state=DeliveryHoldState.HELD,
        probes=probes,
        next_probe_at=timezone.now() + timedelta(seconds=delay),
    )


def hold_open(integration_id) -> None:
    """The held deliveries are drained: the integration sends normally again."""
    with transaction.atomic():
        DeliveryHold.objects.filter(integration_id=integration_id).update(
            state=DeliveryHoldState.OPEN,
            consecutive_failures=0,
            manual_resume_required=False,
            reason="",
            probes=0,
            next_probe_at=None,
        )
        # Deliveries written as held while draining finished go out normally now.
        WebhookDelivery.objects.filter(
            integration_id=integration_id, state=DeliveryState.HELD
        ).update(state=DeliveryState.PENDING, next_attempt_at=timezone.now())
    logger.info("Webhook deliveries of integration %s resumed", integration_id)


def deliveries_resume(*, integration: PartnerIntegration) -> int:
    """Ops: lift a hold (e.g. after a 410 was fixed); held deliveries drain in order."""
    updated = DeliveryHold.objects.filter(
        integration=integration, state=DeliveryHoldState.HELD
    ).update(
        state=DeliveryHoldState.DRAINING,
        manual_resume_required=False,
        next_probe_at=timezone.now(),
        claimed_until=None,
    )
    if updated:
        transaction.on_commit(lambda: queue.enqueue_drain_or_log(integration.pk))
    return updated


def deliveries_release_unheld() -> int:
    """Held deliveries of active integrations that are no longer held go back to pending."""
    holding = DeliveryHold.objects.filter(state__in=HOLDING_STATES).values("integration_id")
    return (
        WebhookDelivery.objects.filter(state=DeliveryState.HELD, integration__is_active=True)
        .exclude(integration_id__in=holding)
        .update(state=DeliveryState.PENDING, next_attempt_at=timezone.now())
    )
