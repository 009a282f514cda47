"""End to end: a partner's signed API calls change orders, and we notify the partner back."""

import pytest
from werkzeug import Response

from integrations.models import DeliveryState, PartnerIntegration, WebhookDelivery
from tests.integrations.conftest import order_payload, status_payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def test_orders_created_and_updated_through_the_api_are_notified_in_sequence(
    httpserver, received, partner, integration, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: received.requests.append(request) or Response("ok")
    )
    PartnerIntegration.objects.filter(pk=integration.pk).update(
        webhook_url=httpserver.url_for("/hook")
    )
    integration.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        assert partner.create(order_payload(partner_order_id="E2E-1")).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = partner.status("E2E-1", status_payload("CONFIRMED"))
        assert response.status_code == 200

    messages = received.verified(integration.webhook_secret)
    assert [m["payload"]["type"] for m in messages] == ["order_created", "order_approved"]
    assert [m["payload"]["data"]["sequence"] for m in messages] == [1, 2]
    assert [m["payload"]["data"]["status"] for m in messages] == ["RECEIVED", "CONFIRMED"]
    assert messages[1]["payload"]["data"]["source"] == "partner"
    assert messages[0]["payload"]["data"]["partner_external_references"]["partner_order_id"] == (
        "E2E-1"
    )
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}
