"""Celery tasks: thin wrappers that hand a primary key or claim token to one service."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

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


# The nightly prune may take longer than CELERY_TASK_SOFT_TIME_LIMIT allows ordinary tasks.
PRUNE_SOFT_TIME_LIMIT = 3300
PRUNE_TIME_LIMIT = 3600


@shared_task(ignore_result=True, soft_time_limit=PRUNE_SOFT_TIME_LIMIT, time_limit=PRUNE_TIME_LIMIT)
def records_prune() -> None:
    """Celery beat, daily: delete audit rows past their retention period."""
    try:
        pruned = retention.records_prune()
    except SoftTimeLimitExceeded:
        # Every batch deleted so far is committed; tomorrow's run goes on from there.
        logger.warning(
            "Pruning stopped at its time limit (%d s); the rest is pruned on the next run",
            PRUNE_SOFT_TIME_LIMIT,
        )
        return
    logger.info(
        "Pruned %d inbound events and %d delivery attempts past their retention period",
        pruned.inbound_events,
        pruned.delivery_attempts,
    )
