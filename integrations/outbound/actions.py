"""Ops actions on deliveries, from the admin: replay, cancel, replay what failed, test-send."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integrations.http import redact_url
from integrations.models import DeliveryState, PartnerIntegration, WebhookDelivery
from integrations.outbound import queue
from integrations.outbound.payload import PING_EVENT, ping_payload
from integrations.outbound.selectors import integration_is_holding
from integrations.outbound.send import deliveries_send_in_order


def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (same webhook-id and payload)."""
    with transaction.atomic():
        holding = integration_is_holding(delivery.integration_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.HELD if holding else DeliveryState.PENDING,
            schedule_position=0,
            next_attempt_at=timezone.now(),
            completed_at=None,
            claim_token=None,
            claimed_until=None,
        )
        if not holding:
            transaction.on_commit(lambda: queue.enqueue_send_or_log(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def delivery_cancel(*, delivery: WebhookDelivery, reason: str = "") -> bool:
    """Stop a pending or held delivery; sent or finished ones are left as they are.
    ``reason``, if given, is kept as its last error for ops to read."""
    changes = {"state": DeliveryState.CANCELLED, "next_attempt_at": None}
    if reason:
        changes["last_error"] = reason
    cancelled = WebhookDelivery.objects.filter(
        pk=delivery.pk, state__in=(DeliveryState.PENDING, DeliveryState.HELD)
    ).update(**changes, completed_at=timezone.now())
    delivery.refresh_from_db()
    return bool(cancelled)


def deliveries_replay_failed(
    *, integration: PartnerIntegration, created_from: datetime, created_to: datetime
) -> int:
    """Replay every failed delivery of ``integration`` created in [from, to]."""
    failed = WebhookDelivery.objects.filter(
        integration=integration,
        state=DeliveryState.FAILED,
        created_at__gte=created_from,
        created_at__lte=created_to,
    ).order_by("created_at", "sequence")
    count = 0
    for delivery in failed:
        delivery_replay(delivery=delivery)
        count += 1
    return count


@dataclass
class TestWebhookResult:
    ok: bool
    message: str
    delivery: WebhookDelivery | None = None


def delivery_send_test(*, integration: PartnerIntegration) -> TestWebhookResult:
    """Send a signed ``ping`` to the integration's webhook URL now and report the result."""
    if not integration.webhook_url:
        return TestWebhookResult(False, "The integration has no webhook URL.")
    delivery = WebhookDelivery.objects.create(
        integration=integration,
        event=PING_EVENT,
        payload=ping_payload(integration=integration, now=timezone.now()),
        next_attempt_at=None,
    )
    batch = deliveries_send_in_order([delivery], integration=integration, token=None)
    result = batch.results[0][1]
    delivery.refresh_from_db()
    where = redact_url(integration.webhook_url)
    if result.succeeded:
        return TestWebhookResult(
            True,
            f"Test webhook to {where} answered {result.status_code} in {result.duration_ms} ms.",
            delivery,
        )
    detail = result.summary
    if result.response_excerpt:
        detail += f" — response: {result.response_excerpt[:200]}"
    return TestWebhookResult(False, f"Test webhook to {where} failed: {detail}", delivery)
