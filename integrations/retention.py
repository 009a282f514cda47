"""Retention: old audit rows that no longer explain anything are deleted, in small batches.

Kept for as long as the orders they explain: inbound events that changed an order (the
status history points at them) and every webhook delivery (it carries the per-order
``sequence`` that the next delivery continues). Deleted after their retention period:

* inbound events that changed nothing (reads, replays, refusals, stale, unchanged or
  rejected updates, requests whose order was created by an earlier request);
* the attempt log of deliveries that are finished (succeeded, failed or cancelled).

Deleting in batches keeps each transaction, and the locks it holds, short.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from integrations.models import (
    DeliveryAttempt,
    DeliveryState,
    InboundEvent,
    PartnerIntegration,
    WebhookDelivery,
)
from orders.models import OrderStatusChange

FINISHED_DELIVERY_STATES = (DeliveryState.SUCCEEDED, DeliveryState.FAILED, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class Pruned:
    inbound_events: int
    delivery_attempts: int


def _delete_in_batches(queryset, batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def inbound_events_prune(*, older_than_days: int, batch_size: int = 1000) -> int:
    """Delete inbound events older than the period that changed no order and have no
    repeats or re-processings left (a repeat that changed nothing goes first, which frees
    its original for a later batch)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted = 0
    # Integration by integration, so each batch reads the (integration, received_at) index.
    for integration_id in PartnerIntegration.objects.values_list("pk", flat=True):
        unneeded = (
            InboundEvent.objects.filter(integration_id=integration_id, received_at__lt=cutoff)
            .exclude(Exists(OrderStatusChange.objects.filter(inbound_event=OuterRef("pk"))))
            .exclude(Exists(InboundEvent.objects.filter(original=OuterRef("pk"))))
            .order_by()
        )
        deleted += _delete_in_batches(unneeded, batch_size)
    return deleted


def delivery_attempts_prune(*, older_than_days: int, batch_size: int = 1000) -> int:
    """Delete attempt rows older than the period of deliveries that are finished."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    finished = WebhookDelivery.objects.filter(
        pk=OuterRef("delivery_id"), state__in=FINISHED_DELIVERY_STATES
    )
    unneeded = DeliveryAttempt.objects.filter(attempted_at__lt=cutoff, delivery__isnull=False)
    return _delete_in_batches(unneeded.filter(Exists(finished)).order_by(), batch_size)


def records_prune() -> Pruned:
    """Apply INBOUND_EVENT_RETENTION_DAYS and DELIVERY_ATTEMPT_RETENTION_DAYS (0 keeps all)."""
    events_days = settings.INBOUND_EVENT_RETENTION_DAYS
    attempts_days = settings.DELIVERY_ATTEMPT_RETENTION_DAYS
    return Pruned(
        inbound_events=inbound_events_prune(older_than_days=events_days) if events_days else 0,
        delivery_attempts=(
            delivery_attempts_prune(older_than_days=attempts_days) if attempts_days else 0
        ),
    )
