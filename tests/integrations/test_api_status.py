import pytest

from integrations.models import InboundEvent
from orders.models import Order, OrderStatusChange
from tests.integrations.conftest import order_payload, status_payload

pytestmark = pytest.mark.django_db

PID = "VLV-2025-789123"


@pytest.fixture
def order(partner):
    partner.create(order_payload(partner_order_id=PID))
    return Order.objects.get()


def test_a_status_update_is_translated_and_applied(partner, order):
    response = partner.status(PID, status_payload("CONFIRMED", note="Dealer confirmed"))

    assert response.status_code == 200
    body = response.json()
    assert body["applied"] is True
    assert body["outcome"] == "applied"
    assert body["order"]["status"] == "CONFIRMED"
    order.refresh_from_db()
    assert order.status == "approved"
    change = order.status_history.last()
    assert (change.from_status, change.to_status, change.source) == ("new", "approved", "partner")
    assert change.note == "Dealer confirmed"
    assert change.inbound_event == InboundEvent.objects.get(outcome="applied")


def test_an_applied_update_refreshes_sync_last_updated(partner, order):
    before = order.partner_external_references["sync_last_updated"]

    partner.status(PID, status_payload("CONFIRMED"))

    order.refresh_from_db()
    assert order.partner_external_references["sync_last_updated"] > before
    assert order.partner_external_references["partner_order_id"] == PID


def test_an_unknown_partner_status_answers_422_listing_the_accepted_ones(partner, order):
    response = partner.status(PID, status_payload("SHIPPED"))

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/unknown-partner-status")
    assert problem["allowed_statuses"] == ["CONFIRMED", "DELIVERED", "IN_PROGRESS", "RECEIVED"]
    assert "CONFIRMED" in problem["detail"]
    assert "status" in problem["errors"]
    order.refresh_from_db()
    assert order.status == "new"


def test_a_refused_transition_answers_409_with_the_current_status(partner, order):
    response = partner.status(PID, status_payload("DELIVERED"))

    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/transition-refused")
    assert problem["current_status"] == "RECEIVED"
    assert problem["allowed_statuses"] == ["CONFIRMED"]
    order.refresh_from_db()
    assert order.status == "new"
    assert order.status_history.count() == 1


def test_an_update_older_than_the_last_applied_is_recorded_and_ignored(partner, order):
    partner.status(PID, status_payload("CONFIRMED", "2025-06-01T10:00:00Z"))
    partner.status(PID, status_payload("IN_PROGRESS", "2025-06-01T12:00:00Z"))

    response = partner.status(PID, status_payload("CONFIRMED", "2025-06-01T11:00:00Z"))

    assert response.status_code == 200
    body = response.json()
    assert body["applied"] is False
    assert body["outcome"] == "stale"
    assert "older than the last update recorded" in body["detail"]
    assert body["order"]["status"] == "IN_PROGRESS"
    order.refresh_from_db()
    assert order.status == "in_progress"
    assert InboundEvent.objects.filter(outcome="stale").count() == 1


def test_the_status_the_order_already_has_answers_200_unchanged(partner, order):
    partner.status(PID, status_payload("CONFIRMED", "2025-06-01T10:00:00Z"))
    webhooks_before = order.webhook_deliveries.count()

    response = partner.status(PID, status_payload("CONFIRMED", "2025-06-01T11:00:00Z"))

    assert response.status_code == 200
    body = response.json()
    assert (body["applied"], body["outcome"]) == (False, "unchanged")
    assert body["detail"] == "Unchanged: the order is already 'CONFIRMED'; nothing to apply."
    assert body["order"]["status"] == "CONFIRMED"
    order.refresh_from_db()
    assert order.status == "approved"
    assert order.status_history.count() == 2  # created, approved: no new row
    assert order.webhook_deliveries.count() == webhooks_before
    assert InboundEvent.objects.filter(outcome="unchanged").count() == 1


def test_an_unchanged_update_makes_older_ones_stale(partner, order):
    partner.status(PID, status_payload("CONFIRMED", "2025-06-01T10:00:00Z"))
    partner.status(PID, status_payload("CONFIRMED", "2025-06-01T12:00:00Z"))

    # Between the two: the partner's later word (still CONFIRMED at 12:00) stands.
    response = partner.status(PID, status_payload("IN_PROGRESS", "2025-06-01T11:00:00Z"))

    assert response.json()["outcome"] == "stale"
    order.refresh_from_db()
    assert order.status == "approved"
    assert order.partner_status_occurred_at.isoformat() == "2025-06-01T12:00:00+00:00"


def test_two_partner_statuses_for_one_of_ours_move_nothing(partner, integration, order):
    mapping = integration.status_mapping
    mapping["partner_to_chargecars"]["ORDER_PLACED"] = "new"
    integration.save(update_fields=["status_mapping"])

    response = partner.status(PID, status_payload("ORDER_PLACED"))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"
    order.refresh_from_db()
    assert order.status == "new"


def test_a_late_update_that_would_move_backwards_cannot(partner, order):
    partner.status(PID, status_payload("CONFIRMED", "2025-06-01T10:00:00+02:00"))

    response = partner.status(PID, status_payload("RECEIVED", "2025-06-01T07:59:00Z"))

    assert response.json()["applied"] is False
    order.refresh_from_db()
    assert order.status == "approved"


def test_updates_in_order_move_the_order_forward(partner, order):
    for status, hour in (("CONFIRMED", 10), ("IN_PROGRESS", 11), ("DELIVERED", 12)):
        response = partner.status(PID, status_payload(status, f"2025-06-01T{hour}:00:00Z"))
        assert response.status_code == 200, response.json()

    order.refresh_from_db()
    assert order.status == "completed"
    assert list(order.status_history.values_list("to_status", flat=True)) == [
        "new",
        "approved",
        "in_progress",
        "completed",
    ]


def test_a_status_update_for_an_unknown_order_answers_404(partner, order):
    response = partner.status("UNKNOWN-1", status_payload("CONFIRMED"))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"occurred_at": "2025-06-01T10:00:00Z"}, "status"),
        ({"status": "CONFIRMED"}, "occurred_at"),
        (status_payload("CONFIRMED", "2025-06-01T10:00:00"), "occurred_at"),
        (status_payload("CONFIRMED", "yesterday"), "occurred_at"),
        (status_payload("CONFIRMED", "2999-01-01T00:00:00Z"), "occurred_at"),
        (status_payload("CONFIRMED", extra="x"), "extra"),
    ],
)
def test_invalid_status_update_fields_answer_422(partner, order, payload, field):
    response = partner.status(PID, payload)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    order.refresh_from_db()
    assert order.status == "new"
    assert OrderStatusChange.objects.count() == 1
