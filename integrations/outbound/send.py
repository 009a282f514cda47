"""Sending deliveries in order: a claimed batch of one integration, or one delivery on
commit, over one kept-alive connection, with the outcomes recorded as they go."""

from datetime import timedelta

from django.conf import settings
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from integrations.config import check_outbound_url
from integrations.models import (
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    PartnerIntegration,
    WebhookDelivery,
)
from integrations.outbound.claim import deliveries_release, delivery_claim
from integrations.outbound.payload import PING_EVENT, delivery_body
from integrations.outbound.record import Batch, batch_record
from integrations.outbound.retry import GONE, RETRY, SUCCESS
from integrations.outbound.selectors import HOLDING_STATES
from integrations.outbound.success_rate import integration_health_record
from integrations.outbound.transport import AttemptResult, webhook_post
from integrations.signing import webhook_secrets_valid_now


def deliveries_send_in_order(
    deliveries: list[WebhookDelivery],
    *,
    integration: PartnerIntegration,
    token,
    streak: int | None = None,
) -> Batch:
    """Send ``deliveries`` in order. A claimed batch (``token``) passes ``streak``, the
    consecutive failures recorded so far, and stops where the hold threshold is reached;
    the hold then keeps the rest (probes and drains, token None, apply their own rules)."""
    url = integration.webhook_url or ""
    url_checked = check_outbound_url(url) is None
    secrets = webhook_secrets_valid_now(integration)
    budget = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    flush_every = 100
    batch = Batch(integration=integration, token=token)
    sent: list[tuple[WebhookDelivery, AttemptResult]] = []
    held_reason = ""
    retry_after = 0.0
    for delivery in deliveries:
        if token and timezone.now() + timedelta(seconds=budget) > delivery.claimed_until:
            break  # lease nearly over: leave the rest to the next claim
        result = webhook_post(
            url=url,
            secrets=secrets,
            msg_id=str(delivery.pk),
            body=getattr(delivery, "body_text", None) or delivery_body(delivery),
            url_checked=url_checked,
        )
        batch.results.append((delivery, result))
        if result.outcome == GONE and delivery.event != PING_EVENT:
            break  # the partner retired the endpoint: the rest is held, not sent
        if token and result.outcome == RETRY and result.retry_after:
            retry_after = result.retry_after
            break  # the partner asked us to wait (429/503 Retry-After): so does the rest
        if streak is not None and delivery.event != PING_EVENT:
            streak = 0 if result.outcome == SUCCESS else streak + (result.outcome == RETRY)
            if streak >= settings.WEBHOOK_HOLD_AFTER_FAILURES:
                break  # recording this trips the hold: the rest waits held, unsent
        if len(batch.results) >= flush_every:
            held_reason = batch_record(batch) or held_reason
            sent += batch.results
            batch = Batch(integration=integration, token=token)
    held_reason = batch_record(batch) or held_reason
    sent += batch.results
    if token and len(sent) < len(deliveries):
        # Whatever was not reached goes back to the pool, due once the partner lets us.
        deliveries_release(token=token, delay=retry_after)
    if sent:
        _health_record(integration, sent, held_reason=held_reason)
    return Batch(integration=integration, token=token, results=sent)


def _health_record(
    integration: PartnerIntegration,
    sent: list[tuple[WebhookDelivery, AttemptResult]],
    *,
    held_reason: str,
) -> None:
    """The integration's success rate and last error after sending: the hold's reason when
    these outcomes held its deliveries, else the last failure, if any."""
    failures = [result for _, result in sent if not result.succeeded]
    last_failure = failures[-1] if failures else None
    integration_health_record(
        integration_id=integration.pk,
        error_at=last_failure.attempted_at if last_failure else None,
        error_message=(
            f"Deliveries held: {held_reason}"
            if held_reason
            else f"Webhook delivery failed: {last_failure.summary}"
            if last_failure
            else ""
        ),
    )


def deliveries_send_claimed(*, token) -> int:
    """Send the deliveries claimed under ``token`` (one integration), in order."""
    deliveries = list(
        WebhookDelivery.objects.filter(claim_token=token)
        # The stored JSON as text is the body: no decode and re-encode per delivery.
        .annotate(body_text=Cast("payload", output_field=TextField()))
        .defer("payload")
        .order_by("next_attempt_at", "created_at", "sequence")
    )
    if not deliveries:
        return 0
    integration = PartnerIntegration.objects.get(pk=deliveries[0].integration_id)
    if not integration.is_active or not integration.webhook_url:
        # Kept, not dropped: released to pending once the integration is active again.
        WebhookDelivery.objects.filter(claim_token=token).update(
            state=DeliveryState.HELD,
            claim_token=None,
            claimed_until=None,
            last_error="The integration is inactive or has no webhook URL.",
        )
        return 0
    if not integration.sync_enabled:
        # Paused: back to pending as they were; the dispatcher claims them once resumed.
        deliveries_release(token=token)
        return 0
    state, not_before, streak = DeliveryHold.objects.filter(
        integration_id=integration.pk
    ).values_list("state", "next_probe_at", "consecutive_failures").first() or (
        DeliveryHoldState.OPEN,
        None,
        0,
    )
    if state in HOLDING_STATES:
        # Written while the integration was held or draining: queue behind the backlog.
        WebhookDelivery.objects.filter(claim_token=token).update(
            state=DeliveryState.HELD, claim_token=None, claimed_until=None
        )
        return 0
    if not_before and (wait := (not_before - timezone.now()).total_seconds()) > 0:
        # The partner's Retry-After (an open hold's next_probe_at) is not over yet.
        deliveries_release(token=token, delay=wait)
        return 0
    batch = deliveries_send_in_order(
        deliveries, integration=integration, token=token, streak=streak
    )
    return len(batch.results)


def delivery_send(*, delivery_id) -> bool:
    """Send one delivery now if it is due and nobody else holds it (the on-commit path)."""
    token = delivery_claim(delivery_id=delivery_id)
    return token is not None and deliveries_send_claimed(token=token) > 0
