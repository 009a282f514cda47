"""Writing one batch's outcomes: the attempt log, each delivery's new state and the hold
counters, in one transaction."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.models import (
    DeliveryAttempt,
    DeliveryHold,
    DeliveryState,
    PartnerIntegration,
    WebhookDelivery,
)
from integrations.outbound.holds import hold_update
from integrations.outbound.payload import PING_EVENT
from integrations.outbound.retry import FAIL, GONE, SUCCESS, retry_delay
from integrations.outbound.transport import AttemptResult


@dataclass
class Batch:
    """Outcomes of one integration's claimed deliveries, written together."""

    integration: PartnerIntegration
    token: uuid.UUID | None
    results: list[tuple[WebhookDelivery, AttemptResult]] = field(default_factory=list)


def _next_state(delivery: WebhookDelivery, result: AttemptResult, now: datetime) -> dict:
    """The delivery's new fields after ``result``."""
    fields: dict = {
        "attempts": F("attempts") + 1,
        "last_attempt_at": result.attempted_at,
        "last_status_code": result.status_code,
        "last_error": "" if result.succeeded else result.summary[:1000],
        "claim_token": None,
        "claimed_until": None,
    }
    if result.outcome == SUCCESS:
        fields.update(state=DeliveryState.SUCCEEDED, next_attempt_at=None, completed_at=now)
    elif result.outcome == FAIL or delivery.event == PING_EVENT:
        fields.update(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now)
    elif result.outcome == GONE:
        fields.update(state=DeliveryState.HELD, next_attempt_at=now)
    elif delivery.state == DeliveryState.HELD:
        fields.update(next_attempt_at=now)  # a failed probe or drain: stays held, in order
    else:
        position = delivery.schedule_position + 1
        delay = retry_delay(position, retry_after=result.retry_after)
        if delay is None:  # that was the schedule's last attempt
            fields.update(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now)
        else:
            fields.update(
                schedule_position=position, next_attempt_at=now + timedelta(seconds=delay)
            )
    return fields


def batch_record(batch: Batch) -> str:
    """Write attempts, delivery states and hold counters for one batch of outcomes.

    Returns the reason when these outcomes put the integration's deliveries on hold.
    """
    if not batch.results:
        return ""
    now = timezone.now()
    integration = batch.integration
    token_filter = {"claim_token": batch.token} if batch.token else {}
    # Recorders of one integration take its hold row first, so they queue one behind the
    # other: a recorder that trips the hold updates every pending delivery of the
    # integration, and must not find another recorder's rows locked (a deadlock on
    # PostgreSQL, losing that recorder's attempts).
    DeliveryHold.objects.get_or_create(integration_id=integration.pk)
    with transaction.atomic():
        hold = DeliveryHold.objects.select_for_update().get(integration_id=integration.pk)
        DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(
                    delivery_id=delivery.pk,
                    integration_id=integration.pk,
                    attempted_at=result.attempted_at,
                    duration_ms=result.duration_ms,
                    status_code=result.status_code,
                    succeeded=result.succeeded,
                    response_excerpt=result.response_excerpt,
                    error_class=result.error_class,
                    error_message=result.error_message,
                )
                for delivery, result in batch.results
            ]
        )
        # Successes are written with one UPDATE per status code; the rest row by row.
        successes: dict[int | None, list] = {}
        for delivery, result in batch.results:
            if result.succeeded:
                successes.setdefault(result.status_code, []).append(delivery.pk)
            else:
                WebhookDelivery.objects.filter(pk=delivery.pk, **token_filter).update(
                    **_next_state(delivery, result, now)
                )
        for status_code, ids in successes.items():
            WebhookDelivery.objects.filter(pk__in=ids, **token_filter).update(
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_status_code=status_code,
                last_error="",
                claim_token=None,
                claimed_until=None,
                state=DeliveryState.SUCCEEDED,
                next_attempt_at=None,
                completed_at=now,
            )
        return hold_update(batch.results, now, hold)
