import pytest
from django.db import IntegrityError, transaction

from orders.services import order_create
from tests.factories import PartnerIntegrationFactory

pytestmark = pytest.mark.django_db


def test_a_second_order_for_the_same_partner_order_is_refused_by_the_database():
    integration = PartnerIntegrationFactory()
    references = {"partner_order_id": "VLV-2025-789123", "dealer_group_id": "VAN_MOSSEL_WEST"}
    order_create(
        source="partner",
        integration=integration,
        customer_name="A",
        partner_external_references=references,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        order_create(
            source="partner",
            integration=integration,
            customer_name="B",
            partner_external_references={"partner_order_id": "VLV-2025-789123"},
        )


def test_the_same_partner_order_id_may_exist_at_two_different_partners():
    first, second = PartnerIntegrationFactory(), PartnerIntegrationFactory()
    references = {"partner_order_id": "ORDER-1"}

    order_create(
        source="partner",
        integration=first,
        customer_name="A",
        partner_external_references=references,
    )
    order_create(
        source="partner",
        integration=second,
        customer_name="B",
        partner_external_references=references,
    )


def test_orders_without_a_partner_order_id_do_not_collide():
    integration = PartnerIntegrationFactory()

    order_create(source="staff", integration=integration, customer_name="A")
    order_create(source="staff", integration=integration, customer_name="B")
