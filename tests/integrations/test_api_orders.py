import pytest

from integrations.models import InboundEvent
from orders.models import Order, OrderStatusChange
from tests.factories import OrderFactory, PartnerIntegrationFactory
from tests.integrations.conftest import PartnerClient, order_payload, status_payload

pytestmark = pytest.mark.django_db


def test_creating_an_order_answers_201_with_the_order_in_partner_terms(partner, integration):
    response = partner.create(order_payload())

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    order = Order.objects.get()
    assert body["id"] == str(order.id)
    assert body["order_number"] == order.order_number
    assert body["status"] == "RECEIVED"  # "new" in Volvo's vocabulary
    assert body["partner_order_id"] == "VLV-2025-789123"
    assert order.status == "new"
    assert order.source_integration == integration
    assert order.customer_name == "Sanne de Vries"


def test_created_order_stores_the_partner_references_with_system_and_sync_time(partner):
    partner.create(order_payload())

    references = Order.objects.get().partner_external_references
    assert references["partner_order_id"] == "VLV-2025-789123"
    assert references["partner_customer_id"] == "CUST-456789"
    assert references["dealer_group_id"] == "VAN_MOSSEL_WEST"
    assert references["purchase_order_number"] == "PO-20250601-001"
    assert references["partner_lead_id"] == "LEAD-789456"
    assert references["dealer_reference_number"] == "DLR-REF-2025-123"
    assert references["partner_system"] == "volvo_dealer_api"
    event = InboundEvent.objects.get()
    assert references["sync_last_updated"].startswith(event.received_at.strftime("%Y-%m-%dT%H"))


def test_partner_system_may_be_given_by_the_partner(partner):
    partner.create(order_payload(partner_system="volvo_dealer_portal"))

    assert Order.objects.get().partner_external_references["partner_system"] == (
        "volvo_dealer_portal"
    )


def test_the_history_row_names_the_inbound_event_that_created_the_order(partner):
    partner.create(order_payload())

    change = OrderStatusChange.objects.get()
    event = InboundEvent.objects.get()
    assert change.source == "partner"
    assert change.inbound_event == event
    assert event.order == change.order
    assert event.outcome == InboundEvent.Outcome.CREATED


def test_the_same_partner_order_id_again_answers_200_and_creates_nothing(partner):
    first = partner.create(order_payload())

    second = partner.create(order_payload(customer_name="Someone Else"))

    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert Order.objects.get().customer_name == "Sanne de Vries"
    assert OrderStatusChange.objects.count() == 1
    assert InboundEvent.objects.filter(outcome="existing").count() == 1


def test_the_same_partner_order_id_at_another_partner_is_a_different_order(partner, client):
    other = PartnerClient(client, PartnerIntegrationFactory())
    partner.create(order_payload())

    response = other.create(order_payload())

    assert response.status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (order_payload(partner_order_id=None), "partner_order_id"),
        ({"customer_name": "x"}, "partner_order_id"),
        (order_payload(partner_order_id="has/slash"), "partner_order_id"),
        (order_payload(partner_order_id="x" * 101), "partner_order_id"),
        (order_payload(customer_name=""), "customer_name"),
        (order_payload(customer_email="not-an-email"), "customer_email"),
        (order_payload(installation_country="Netherlands"), "installation_country"),
        (order_payload(requested_installation_date="tomorrow"), "requested_installation_date"),
        (order_payload(dealer_group_id=["a"]), "dealer_group_id"),
        (order_payload(customer_name="nul\x00byte"), "customer_name"),
        (order_payload(unexpected="x"), "unexpected"),
    ],
)
def test_invalid_fields_answer_422_with_per_field_errors(partner, payload, field):
    response = partner.create(payload)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert problem["status"] == 422
    assert field in problem["errors"]
    assert Order.objects.count() == 0
    assert InboundEvent.objects.get().outcome == InboundEvent.Outcome.REJECTED


def test_reading_an_order_shows_partner_status_and_references(partner):
    created = partner.create(order_payload()).json()

    response = partner.get("VLV-2025-789123")

    assert response.status_code == 200
    assert response.json() == created
    assert InboundEvent.objects.filter(action="order_read", outcome="read").count() == 1


def test_reading_an_unknown_order_answers_404(partner):
    response = partner.get("NOPE-1")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_a_partner_cannot_read_another_partners_order(partner, client):
    other_integration = PartnerIntegrationFactory()
    OrderFactory(
        integration=other_integration,
        source="partner",
        partner_external_references={"partner_order_id": "OTHER-1"},
    )

    response = partner.get("OTHER-1")

    assert response.status_code == 404


def test_a_partner_cannot_update_another_partners_order(partner):
    other_integration = PartnerIntegrationFactory()
    order = OrderFactory(
        integration=other_integration,
        source="partner",
        partner_external_references={"partner_order_id": "OTHER-1"},
    )

    response = partner.status(
        "OTHER-1", {"status": "CONFIRMED", "occurred_at": "2025-06-01T10:00:00Z"}
    )

    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == "new"


def test_a_partner_cannot_sign_for_another_integration(partner):
    other = PartnerIntegrationFactory()

    response = partner.create(order_payload(), integration_name=other.integration_name)

    assert response.status_code == 401
    assert Order.objects.count() == 0


def test_the_endpoints_also_answer_without_the_trailing_slash(partner):
    created = partner.post("orders", order_payload())
    updated = partner.post("orders/VLV-2025-789123/status", status_payload("CONFIRMED"))
    read = partner.client.get(
        partner.url("orders/VLV-2025-789123"), headers=partner.signed_headers("")
    )

    assert (created.status_code, updated.status_code, read.status_code) == (201, 200, 200)
    assert read.json()["status"] == "CONFIRMED"
