"""Handing outbound work to Celery: the one module through which outbound services queue it.

Tasks are reached by their registered names on the Celery app, so this module never imports
``integrations.outbound.tasks`` (which imports the services that import this module). The
tasks register under the names below, and ``IntegrationsConfig.ready()`` imports them in every
process. ``.delay()`` on the registered task, not ``send_task``: it honours
``task_always_eager``, so tests run the tasks in-process.
"""

import logging

from chargecars.celery import app

logger = logging.getLogger(__name__)

# Registered task names (tasks.py registers under them; beat's schedule in settings names the
# dispatcher).
WEBHOOK_DELIVERY_SEND = "integrations.outbound.tasks.webhook_delivery_send"
WEBHOOK_DELIVERIES_SEND_BATCH = "integrations.outbound.tasks.webhook_deliveries_send_batch"
WEBHOOK_DELIVERIES_DRAIN = "integrations.outbound.tasks.webhook_deliveries_drain"
WEBHOOK_DELIVERIES_DISPATCH = "integrations.outbound.tasks.webhook_deliveries_dispatch"


def enqueue_batch(token) -> None:
    """Hand a claimed batch to a worker. Raises when the broker is unreachable: the
    dispatcher then gives the claim back (see ``deliveries_dispatch``)."""
    app.tasks[WEBHOOK_DELIVERIES_SEND_BATCH].delay(str(token))


def enqueue_drain(integration_id) -> None:
    """Hand a probe or drain of a held integration to a worker. Raises when the broker is
    unreachable."""
    app.tasks[WEBHOOK_DELIVERIES_DRAIN].delay(str(integration_id))


def enqueue_send_or_log(delivery_id) -> None:
    """Hand a committed delivery to a worker; if the broker is down, the dispatcher will."""
    task = app.tasks[WEBHOOK_DELIVERY_SEND]
    try:
        task.delay(str(delivery_id))
    except Exception:  # broker unreachable: the row is committed, the dispatcher sends it
        logger.warning(
            "Could not queue webhook delivery %s; the dispatcher will send it",
            delivery_id,
            exc_info=True,
        )


def enqueue_drain_or_log(integration_id) -> None:
    """Hand a drain of a resumed integration to a worker; if the broker is down, the
    dispatcher will."""
    task = app.tasks[WEBHOOK_DELIVERIES_DRAIN]
    try:
        task.delay(str(integration_id))
    except Exception:
        logger.warning("Could not queue a drain; the dispatcher will", exc_info=True)
