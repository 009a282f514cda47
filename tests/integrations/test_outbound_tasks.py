"""Outbound services reach their Celery tasks by registered name, never by import."""

from django.conf import settings

from chargecars.celery import app as celery_app
from integrations.outbound import queue


def test_every_task_name_the_services_queue_is_registered():
    names = [
        queue.WEBHOOK_DELIVERY_SEND,
        queue.WEBHOOK_DELIVERIES_SEND_BATCH,
        queue.WEBHOOK_DELIVERIES_DRAIN,
    ]

    assert [celery_app.tasks[name].name for name in names] == names


def test_beat_runs_the_registered_dispatcher():
    task = settings.CELERY_BEAT_SCHEDULE["webhook-deliveries-dispatch"]["task"]

    assert task == queue.WEBHOOK_DELIVERIES_DISPATCH
    assert task in celery_app.tasks
