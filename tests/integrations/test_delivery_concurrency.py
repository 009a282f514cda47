"""Claiming with several dispatchers at once, against the real database (own connections)."""

import contextlib
import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import (
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    WebhookDelivery,
)
from integrations.outbound.claim import deliveries_claim_due
from integrations.outbound.holds import hold_update
from integrations.outbound.record import Batch, batch_record
from integrations.outbound.retry import RETRY
from integrations.outbound.transport import AttemptResult
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
            while claims := deliveries_claim_due(limit=7):
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


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real PostgreSQL: SQLite serialises all writers, so no deadlock can happen",
)
def test_two_batches_tripping_the_hold_at_once_both_keep_their_attempts(settings, monkeypatch):
    settings.WEBHOOK_HOLD_AFTER_FAILURES = 2
    integration = PartnerIntegrationFactory()
    DeliveryHold.objects.create(integration=integration)
    now = timezone.now()
    batches = []
    for _ in range(2):
        token = uuid.uuid4()
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    integration=integration,
                    event="order_created",
                    payload={},
                    next_attempt_at=now,
                    claim_token=token,
                    claimed_until=now,
                )
                for _ in range(2)
            ]
        )
        answer = AttemptResult(RETRY, now, status_code=503)
        batches.append(
            Batch(
                integration=integration,
                token=token,
                results=[(delivery, answer) for delivery in deliveries],
            )
        )
    # Both recorders reach the hold counter having written their deliveries, when they can.
    rendezvous = threading.Barrier(2, timeout=3)

    def hold_update_together(batch, now, hold):
        # Broken when the other recorder waits for this one to finish: go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            rendezvous.wait()
        return hold_update(batch, now, hold)

    monkeypatch.setattr("integrations.outbound.record.hold_update", hold_update_together)
    errors: list = []

    def recorder(batch):
        try:
            batch_record(batch)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=recorder, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert DeliveryAttempt.objects.filter(status_code=503).count() == 4
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {
        (DeliveryState.HELD, 1)
    }
    hold = DeliveryHold.objects.get(integration=integration)
    assert hold.state == DeliveryHoldState.HELD
    assert hold.consecutive_failures == 4
