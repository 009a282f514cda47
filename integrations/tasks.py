"""Celery tasks outside the traffic directions: the daily retention prune.

The webhook tasks are in ``integrations.outbound.tasks``.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from integrations import retention

logger = logging.getLogger(__name__)


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
