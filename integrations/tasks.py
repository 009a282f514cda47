"""Celery tasks: thin wrappers that hand a primary key or claim token to one service."""

import logging

from celery import shared_task

from integrations import delivery, retention

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def webhook_delivery_send(delivery_id: str) -> None:
    """First attempt of a real-time delivery, queued on commit."""
    delivery.delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhook_deliveries_send_batch(claim_token: str) -> None:
    """Send a batch of deliveries the dispatcher claimed for one integration."""
    delivery.deliveries_send_claimed(token=claim_token)


@shared_task(ignore_result=True)
def webhook_deliveries_drain(integration_id: str) -> None:
    """Probe a held integration, or drain its held deliveries in order."""
    if delivery.deliveries_drain(integration_id=integration_id):
        webhook_deliveries_drain.delay(integration_id)


@shared_task(ignore_result=True)
def webhook_deliveries_dispatch() -> None:
    """Celery beat: claim everything due in batches and queue them."""
    delivery.deliveries_dispatch(
        enqueue_batch=lambda token: webhook_deliveries_send_batch.delay(str(token)),
        enqueue_drain=lambda integration_id: webhook_deliveries_drain.delay(str(integration_id)),
    )


@shared_task(ignore_result=True)
def records_prune() -> None:
    """Celery beat, daily: delete audit rows past their retention period."""
    pruned = retention.records_prune()
    logger.info(
        "Pruned %d inbound events and %d delivery attempts past their retention period",
        pruned.inbound_events,
        pruned.delivery_attempts,
    )
