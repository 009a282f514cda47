"""Claiming due deliveries: a lease (``claim_token`` + ``claimed_until``) per batch.

A claimed row is the worker's until the lease runs out; a worker that dies mid-send leaves a
lease that runs out, and the row is due again (with the lost try in its attempt log).
"""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import (
    WORKER_LOST,
    DeliveryAttempt,
    DeliveryState,
    PartnerIntegration,
    WebhookDelivery,
)


def unclaimed(now: datetime) -> Q:
    """Rows (deliveries or holds) nobody holds a lease on at ``now``."""
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def not_paused() -> Q:
    """Deliveries of integrations whose sync is on. ``sync_enabled`` off pauses what we send
    on our own: the deliveries stay pending, in order, until it is switched on again.
    A subquery, not a join: the claim's FOR UPDATE must lock deliveries only."""
    return Q(integration_id__in=PartnerIntegration.objects.filter(sync_enabled=True).values("pk"))


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE_SECONDS)


def deliveries_claim_due(
    *, limit: int, now: datetime | None = None
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Claim up to ``limit`` due deliveries; returns one (claim token, ids) per integration.

    Safe with several dispatchers: PostgreSQL skips rows another transaction has locked;
    SQLite serialises writers (IMMEDIATE transactions), and the conditional UPDATE (only
    unclaimed rows, lease as the condition) guards both. A claim also moves
    ``next_attempt_at`` to the end of the lease: claimed rows drop out of the due index (no
    rescanning them claim after claim), and a dead worker's rows are due again when the
    lease runs out.
    """
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(unclaimed(now))
        .filter(not_paused())
        .order_by("next_attempt_at", "created_at", "sequence")
    )
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True).values_list(
                "id", "integration_id", "claim_token"
            )[:limit]
        )
        by_integration: dict = {}
        for pk, integration_id, _ in rows:
            by_integration.setdefault(integration_id, []).append(pk)
        _record_lost_claims(
            [(pk, integration_id) for pk, integration_id, token in rows if token], now
        )
        claims = []
        for ids in by_integration.values():
            token = uuid.uuid4()
            lease = lease_end(now)
            WebhookDelivery.objects.filter(id__in=ids).filter(unclaimed(now)).update(
                claim_token=token, claimed_until=lease, next_attempt_at=lease
            )
            claims.append((token, ids))
    return claims


def _record_lost_claims(lost: list[tuple[uuid.UUID, object]], now: datetime) -> None:
    """A claim whose lease ran out with its token still set: no outcome was recorded (the
    worker was killed or crashed mid-send, or its task never ran). Log that try in the
    attempt log; it may have reached the partner, and the resend carries the same
    webhook-id."""
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery_id=pk,
                integration_id=integration_id,
                attempted_at=now,
                succeeded=False,
                error_class=WORKER_LOST,
                error_message="The claim on this delivery ran out before an outcome was "
                "recorded (the worker stopped, or its task never ran); the partner may have "
                "received it. Sent again with the same webhook-id.",
            )
            for pk, integration_id in lost
        ]
    )


def delivery_claim(*, delivery_id) -> uuid.UUID | None:
    """Claim one delivery if it is due and nobody else holds it (the on-commit path);
    returns the claim token, or None when it was not claimed."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        )
        .filter(unclaimed(now))
        .update(claim_token=token, claimed_until=lease_end(now), next_attempt_at=lease_end(now))
    )
    return token if claimed else None


def deliveries_release(*, token, delay: float = 0.0) -> int:
    """Give claimed but unsent deliveries back: due again at once, or after ``delay`` seconds
    (the partner's ``Retry-After``)."""
    return WebhookDelivery.objects.filter(claim_token=token).update(
        claim_token=None,
        claimed_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
