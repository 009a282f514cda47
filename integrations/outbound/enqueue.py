"""The transactional outbox: a delivery row is written in the transaction that changed the
order, and handed to a worker once that transaction commits."""

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations.models import (
    SYNC_PERIODS,
    DeliveryState,
    PartnerIntegration,
    SyncFrequency,
    WebhookDelivery,
)
from integrations.outbound import queue
from integrations.outbound.payload import delivery_payload
from integrations.outbound.retry import retry_delay
from integrations.outbound.selectors import order_source_integration
from orders.status import EVENT_FOR_STATUS


def next_sync_slot(*, integration: PartnerIntegration, now: datetime | None = None) -> datetime:
    """When a non-real-time integration next hears from us: the first whole period after
    ``last_sync_at`` (or after the epoch, when it never synced) that is not in the past."""
    now = now or timezone.now()
    period = SYNC_PERIODS.get(integration.sync_frequency)
    if period is None:
        return now
    anchor = integration.last_sync_at or datetime(2000, 1, 1, tzinfo=UTC)
    if anchor >= now:
        return anchor
    periods = -((anchor - now) // period)  # ceil((now - anchor) / period)
    return anchor + periods * period


def delivery_enqueue_for_change(*, order, change) -> WebhookDelivery | None:
    """Write the delivery for an order change, in the caller's transaction (the outbox).

    Only the order's source integration is notified, when it is active, has a webhook URL and
    subscribes to the event. Must run under the order's row lock (the status engine holds it)
    so the per-order sequence is race-free; a unique constraint backs that up.
    """
    event = EVENT_FOR_STATUS.get(change.to_status)
    if not event or not order.source_integration_id:
        return None
    integration = order_source_integration(order=order, change=change)
    if not (
        integration.is_active and integration.webhook_url and event in integration.subscribed_events
    ):
        return None
    if not change.from_status:
        sequence = 1  # the order was just created: its first event
    else:
        last = WebhookDelivery.objects.filter(integration=integration, order=order).aggregate(
            last=Max("sequence")
        )["last"]
        sequence = (last or 0) + 1
    now = timezone.now()
    real_time = integration.sync_frequency == SyncFrequency.REAL_TIME
    # WEBHOOK_RETRY_SCHEDULE's first entry is the delay of the first attempt (0: on commit).
    first_delay = retry_delay(0) if real_time else 0.0
    delivery = WebhookDelivery.objects.create(
        integration=integration,
        order=order,
        event=event,
        sequence=sequence,
        payload=delivery_payload(
            integration=integration, order=order, change=change, event=event, sequence=sequence
        ),
        # A held integration's new deliveries are marked held when a worker picks them up
        # (see deliveries_send_claimed): no hold lookup on the order-change path.
        state=DeliveryState.PENDING,
        created_at=now,
        next_attempt_at=(
            now + timedelta(seconds=first_delay)
            if real_time
            else next_sync_slot(integration=integration, now=now)
        ),
    )
    if real_time and not first_delay:
        transaction.on_commit(lambda: queue.enqueue_send_or_log(delivery.pk))
    return delivery


def on_order_status_changed(sender, *, order, change, **kwargs) -> None:
    delivery_enqueue_for_change(order=order, change=change)


def deliveries_push_for_integration(*, integration: PartnerIntegration) -> int:
    """Sync hook: make this integration's waiting first attempts due now (batched sends)."""
    return WebhookDelivery.objects.filter(
        integration=integration,
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at__gt=timezone.now(),
    ).update(next_attempt_at=timezone.now())
