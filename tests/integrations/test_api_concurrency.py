"""Concurrent requests on real PostgreSQL: database constraints and row locks decide."""

import threading
from collections import Counter
from itertools import pairwise

import pytest
from django.db import connection, connections
from django.test import Client

from integrations.models import InboundEvent
from orders.models import Order, OrderStatusChange
from tests.factories import PartnerIntegrationFactory
from tests.integrations.conftest import PartnerClient, order_payload, status_payload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs real PostgreSQL: SQLite serialises all writers, so races cannot happen",
    ),
]

THREADS = 50


def run_concurrently(calls) -> list:
    """Start every call at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def partner_integration(settings):
    settings.PARTNER_API_RATE_LIMIT = "0"
    return PartnerIntegrationFactory(integration_name="volvo_dealer_api")


def new_partner(integration) -> PartnerClient:
    return PartnerClient(Client(), integration)


def test_fifty_concurrent_identical_requests_create_one_order(partner_integration):
    calls = [
        lambda: new_partner(partner_integration).create(order_payload(), msg_id="msg_same")
        for _ in range(THREADS)
    ]

    responses = run_concurrently(calls)

    assert all(not isinstance(r, Exception) for r in responses), responses
    assert Counter(r.status_code for r in responses) == {201: THREADS}
    assert all(r.json() == responses[0].json() for r in responses)
    assert Order.objects.count() == 1
    assert OrderStatusChange.objects.count() == 1
    assert InboundEvent.objects.filter(kind="request").count() == 1
    assert InboundEvent.objects.filter(kind="duplicate").count() == THREADS - 1


def test_fifty_concurrent_creates_of_one_partner_order_create_one_order(partner_integration):
    calls = [
        lambda: new_partner(partner_integration).create(order_payload()) for _ in range(THREADS)
    ]

    responses = run_concurrently(calls)

    assert Counter(r.status_code for r in responses) == {201: 1, 200: THREADS - 1}
    assert len({r.json()["id"] for r in responses}) == 1
    assert Order.objects.count() == 1
    assert OrderStatusChange.objects.count() == 1


def test_fifty_concurrent_identical_status_updates_apply_once(partner_integration):
    new_partner(partner_integration).create(order_payload(partner_order_id="P-1"))
    calls = [
        lambda: new_partner(partner_integration).status(
            "P-1", status_payload("CONFIRMED"), msg_id="msg_status"
        )
        for _ in range(THREADS)
    ]

    responses = run_concurrently(calls)

    assert Counter(r.status_code for r in responses) == {200: THREADS}
    assert OrderStatusChange.objects.filter(to_status="approved").count() == 1
    assert Order.objects.get().status == "approved"


def test_concurrent_different_status_updates_are_serialised_and_none_is_lost(
    partner_integration,
):
    new_partner(partner_integration).create(order_payload(partner_order_id="P-2"))
    updates = [
        ("CONFIRMED", "2025-06-01T10:00:00Z"),
        ("IN_PROGRESS", "2025-06-01T11:00:00Z"),
        ("DELIVERED", "2025-06-01T12:00:00Z"),
    ] * 8
    calls = [
        (lambda s=s, t=t: new_partner(partner_integration).status("P-2", status_payload(s, t)))
        for s, t in updates
    ]

    responses = run_concurrently(calls)

    assert all(not isinstance(r, Exception) for r in responses), responses
    assert {r.status_code for r in responses} <= {200, 409}
    history = list(
        OrderStatusChange.objects.filter(order__partner_external_references__partner_order_id="P-2")
        .order_by("created_at", "id")
        .values_list("from_status", "to_status")
    )
    # Each change starts where the previous one ended: no update was applied on a stale read.
    for (_, previous_to), (next_from, _) in pairwise(history):
        assert next_from == previous_to
    applied = InboundEvent.objects.filter(outcome="applied").count()
    assert applied == len(history) - 1
    order = Order.objects.get()
    assert order.status == history[-1][1]
    assert (
        sum(r.status_code == 200 for r in responses)
        == InboundEvent.objects.filter(outcome__in=["applied", "unchanged", "stale"]).count()
    )
