"""Each request costs a fixed number of queries, however much data there is."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.integrations.conftest import order_payload, status_payload

pytestmark = pytest.mark.django_db


def queries_of(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return len(captured), response


def test_creating_an_order_costs_the_same_queries_with_more_orders(partner):
    partner.get("WARM-UP")  # caches the integration
    first, response = queries_of(lambda: partner.create(order_payload(partner_order_id="A-0")))
    assert response.status_code == 201
    for n in range(1, 6):
        partner.create(order_payload(partner_order_id=f"A-{n}"))

    later, response = queries_of(lambda: partner.create(order_payload(partner_order_id="A-9")))

    assert response.status_code == 201
    assert later == first


def test_create_status_and_read_cost_a_fixed_number_of_queries(partner, django_assert_num_queries):
    # Counts include the savepoint pair that stands in for BEGIN/COMMIT inside a test.
    # The first request also reads the integration, which is then cached.
    # The outbox adds its webhook delivery row to creations and status changes,
    # and for a status change the order's last delivery sequence.
    # integration; order number, order, history, webhook delivery; event. PostgreSQL
    # numbers the order in its INSERT; other databases insert into the sequence table.
    number = 0 if connection.vendor == "postgresql" else 1
    with django_assert_num_queries(1 + number + 4 + 2):
        assert partner.create(order_payload(partner_order_id="B-1")).status_code == 201
    # order FOR UPDATE; history, order UPDATE, last sequence, webhook delivery; event.
    with django_assert_num_queries(6 + 2):
        assert partner.status("B-1", status_payload("CONFIRMED")).status_code == 200
    # order; event.
    with django_assert_num_queries(2 + 2):
        assert partner.get("B-1").status_code == 200
    # order number, order, history, webhook delivery; event.
    with django_assert_num_queries(number + 4 + 2):
        assert partner.create(order_payload(partner_order_id="B-2")).status_code == 201


def test_without_the_integration_cache_each_request_reads_it_once(
    partner, settings, django_assert_num_queries
):
    settings.PARTNER_API_INTEGRATION_CACHE_SECONDS = 0
    partner.create(order_payload(partner_order_id="B-1"))

    # integration; order; event (+ the test's savepoint pair).
    with django_assert_num_queries(1 + 2 + 2):
        assert partner.get("B-1").status_code == 200


def test_a_secret_rotated_in_another_process_is_accepted_at_once(partner, integration):
    from integrations.models import PartnerIntegration
    from integrations.secrets import generate_webhook_secret

    partner.get("WARM-UP")  # caches the integration with its current secret
    new_secret = generate_webhook_secret()
    # update() sends no signal: this process's cache still has the old secret.
    PartnerIntegration.objects.filter(pk=integration.pk).update(webhook_secret=new_secret)

    response = partner.create(order_payload(), secret=new_secret)

    assert response.status_code == 201


def test_a_replayed_webhook_id_costs_a_fixed_number_of_queries(partner):
    partner.create(order_payload(partner_order_id="C-1"), msg_id="m1")
    first, _ = queries_of(
        lambda: partner.create(order_payload(partner_order_id="C-1"), msg_id="m1")
    )
    partner.create(order_payload(partner_order_id="C-2"), msg_id="m2")

    second, response = queries_of(
        lambda: partner.create(order_payload(partner_order_id="C-2"), msg_id="m2")
    )

    assert response.status_code == 201
    assert second == first
