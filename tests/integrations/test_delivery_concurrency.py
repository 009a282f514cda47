"""Claiming with several dispatchers at once, against the real database (own connections)."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from integrations import delivery as outbox
from integrations.models import WebhookDelivery
from tests.factories import PartnerIntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_dispatchers_claim_each_due_delivery_exactly_once():
    integration = PartnerIntegrationFactory()
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                integration=integration, event="order_created", payload={}, next_attempt_at=now
            )
            for _ in range(200)
        ]
    )
    claimed: list = []
    errors: list = []
    start = threading.Barrier(4)

    def dispatcher():
        try:
            start.wait()
            while claims := outbox.deliveries_claim_due(limit=7):
                claimed.extend(pk for _, ids in claims for pk in ids)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(claimed) == 200
    assert len(set(claimed)) == 200  # nobody claimed a row twice
    assert WebhookDelivery.objects.filter(claim_token__isnull=True).count() == 0
