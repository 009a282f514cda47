"""Celery tasks of outbound webhooks: thin wrappers that hand an id or a claim token to one
service.

They register under the names in ``queue``, through which the services queue them by name:
no service imports this module. ``IntegrationsConfig.ready()`` imports it, so the tasks are
registered in every process (web, worker, beat).
"""

from celery import shared_task

from integrations.outbound import queue
from integrations.outbound.dispatch import deliveries_dispatch
from integrations.outbound.drain import deliveries_drain
from integrations.outbound.send import deliveries_send_claimed, delivery_send


@shared_task(name=queue.WEBHOOK_DELIVERY_SEND, ignore_result=True)
def webhook_delivery_send(delivery_id: str) -> None:
    """First attempt of a real-time delivery, queued on commit."""
    delivery_send(delivery_id=delivery_id)


@shared_task(name=queue.WEBHOOK_DELIVERIES_SEND_BATCH, ignore_result=True)
def webhook_deliveries_send_batch(claim_token: str) -> None:
    """Send a batch of deliveries the dispatcher claimed for one integration."""
    deliveries_send_claimed(token=claim_token)


@shared_task(name=queue.WEBHOOK_DELIVERIES_DRAIN, ignore_result=True)
def webhook_deliveries_drain(integration_id: str) -> None:
    """Probe a held integration, or drain its held deliveries in order."""
    if deliveries_drain(integration_id=integration_id):
        queue.enqueue_drain(integration_id)


@shared_task(name=queue.WEBHOOK_DELIVERIES_DISPATCH, ignore_result=True)
def webhook_deliveries_dispatch() -> None:
    """Celery beat: claim everything due in batches and queue them."""
    deliveries_dispatch(enqueue_batch=queue.enqueue_batch, enqueue_drain=queue.enqueue_drain)
