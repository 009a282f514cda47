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
    first, response = queries_of(lambda: partner.create(order_payload(partner_order_id="A-0")))
    assert response.status_code == 201
    for n in range(1, 6):
        partner.create(order_payload(partner_order_id=f"A-{n}"))

    later, response = queries_of(lambda: partner.create(order_payload(partner_order_id="A-9")))

    assert response.status_code == 201
    assert later == first


def test_create_status_and_read_cost_a_fixed_number_of_queries(partner, django_assert_num_queries):
    # Counts include the savepoint pair that stands in for BEGIN/COMMIT inside a test.
    # integration; savepoint pair of order_create; sequence, order, history; event.
    with django_assert_num_queries(7 + 2):
        assert partner.create(order_payload(partner_order_id="B-1")).status_code == 201
    # integration; order FOR UPDATE; savepoint pair of the engine; history, UPDATE; event.
    with django_assert_num_queries(7 + 2):
        assert partner.status("B-1", status_payload("CONFIRMED")).status_code == 200
    # integration; order; event.
    with django_assert_num_queries(3 + 2):
        assert partner.get("B-1").status_code == 200


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
