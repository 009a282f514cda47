import pytest

from integrations.models import InboundEvent
from orders.models import Order, OrderStatusChange
from tests.integrations.conftest import order_payload, status_payload

pytestmark = pytest.mark.django_db


def test_a_repeated_webhook_id_answers_with_the_first_response(partner):
    first = partner.create(order_payload(), msg_id="msg_1")

    again = partner.create(order_payload(), msg_id="msg_1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    duplicate = InboundEvent.objects.get(kind="duplicate")
    assert duplicate.original == InboundEvent.objects.get(kind="request")
    assert duplicate.outcome == InboundEvent.Outcome.REPLAYED


def test_a_repeated_status_update_is_not_applied_twice(partner):
    partner.create(order_payload(partner_order_id="P-1"))
    first = partner.status("P-1", status_payload("CONFIRMED"), msg_id="msg_s")

    again = partner.status("P-1", status_payload("CONFIRMED"), msg_id="msg_s")

    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert OrderStatusChange.objects.filter(to_status="approved").count() == 1


def test_a_repeated_webhook_id_with_another_body_still_gets_the_first_answer(partner):
    first = partner.create(order_payload(partner_order_id="A-1"), msg_id="msg_1")

    again = partner.create(order_payload(partner_order_id="B-2"), msg_id="msg_1")

    assert again.json() == first.json()
    assert Order.objects.count() == 1
    assert "different body" in InboundEvent.objects.get(kind="duplicate").error


def test_a_rejected_request_repeated_gets_the_same_rejection(partner):
    first = partner.create(order_payload(customer_name=""), msg_id="msg_1")

    again = partner.create(order_payload(), msg_id="msg_1")

    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
    assert Order.objects.count() == 0


def test_a_webhook_id_is_scoped_to_its_integration(partner, client):
    from tests.factories import PartnerIntegrationFactory
    from tests.integrations.conftest import PartnerClient

    other = PartnerClient(client, PartnerIntegrationFactory())
    partner.create(order_payload(), msg_id="msg_1")

    response = other.create(order_payload(), msg_id="msg_1")

    assert response.status_code == 201
    assert Order.objects.count() == 2


def test_an_unsigned_request_cannot_claim_a_webhook_id(partner):
    from integrations.secrets import generate_webhook_secret

    forged = partner.create(order_payload(), msg_id="msg_1", secret=generate_webhook_secret())

    real = partner.create(order_payload(), msg_id="msg_1")

    assert forged.status_code == 401
    assert real.status_code == 201
