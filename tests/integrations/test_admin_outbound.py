"""Admin for the delivery log, holds, and the outbound actions on an integration."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from integrations.models import (
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    WebhookDelivery,
)
from tests.factories import PartnerIntegrationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

CHANGELIST = "admin:integrations_webhookdelivery_changelist"


def make_delivery(integration, state=DeliveryState.FAILED, **fields):
    delivery = WebhookDelivery.objects.create(
        integration=integration,
        event="order_approved",
        payload={"type": "order_approved", "timestamp": "2025-06-01T10:30:00Z", "data": {}},
        state=state,
        next_attempt_at=None if state == DeliveryState.FAILED else timezone.now(),
        **fields,
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, integration=integration, status_code=400, response_excerpt="bad"
    )
    return delivery


@pytest.fixture
def partner_hook(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_response(Response("ok"))
    return httpserver.url_for("/hook")


def test_the_delivery_changelist_stays_at_constant_queries(
    admin_client, django_assert_max_num_queries
):
    integrations = PartnerIntegrationFactory.create_batch(3)
    for number in range(60):
        make_delivery(integrations[number % 3])

    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert b"Replay failed deliveries" in response.content


def test_the_delivery_changelist_filters_render(admin_client):
    delivery = make_delivery(PartnerIntegrationFactory())

    for query in ("?state=failed", "?state=retrying", "?event=order_approved"):
        response = admin_client.get(reverse(CHANGELIST) + query)
        assert response.status_code == 200
    assert str(delivery.pk)[:8] in admin_client.get(reverse(CHANGELIST)).content.decode()


def test_a_delivery_shows_its_attempts_read_only(admin_client):
    delivery = make_delivery(PartnerIntegrationFactory())

    response = admin_client.get(
        reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk])
    )

    assert response.status_code == 200
    assert b"bad" in response.content  # the attempt's response excerpt
    assert b"order_approved" in response.content


def test_replay_action_sends_the_delivery_again(admin_client, partner_hook):
    integration = PartnerIntegrationFactory(webhook_url=partner_hook)
    delivery = make_delivery(integration)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "replay_deliveries", "_selected_action": [delivery.pk]},
        follow=True,
    )

    assert "1 deliveries queued again." in response.content.decode()
    delivery.refresh_from_db()
    # on_commit does not run inside the test transaction: the row is due for the dispatcher
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at <= timezone.now()


def test_cancel_action_cancels_pending_and_leaves_finished_ones(admin_client):
    integration = PartnerIntegrationFactory()
    pending = make_delivery(integration, state=DeliveryState.PENDING)
    failed = make_delivery(integration)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "cancel_deliveries", "_selected_action": [pending.pk, failed.pk]},
        follow=True,
    )

    assert "1 deliveries cancelled. 1 were already finished" in response.content.decode()
    pending.refresh_from_db()
    assert pending.state == DeliveryState.CANCELLED


def test_failed_deliveries_of_an_integration_in_a_range_are_replayed(admin_client):
    integration = PartnerIntegrationFactory()
    recent = make_delivery(integration)
    old = make_delivery(integration, created_at=timezone.now() - timedelta(days=5))
    other = make_delivery(PartnerIntegrationFactory())
    url = reverse("admin:integrations_webhookdelivery_replay_failed")
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        url,
        {
            "integration": integration.pk,
            "created_from": timezone.localtime(timezone.now() - timedelta(days=1)).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "created_to": timezone.localtime(timezone.now() + timedelta(minutes=1)).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
        },
        follow=True,
    )

    assert "1 failed deliveries" in response.content.decode()
    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert states[recent.pk] == DeliveryState.PENDING
    assert states[old.pk] == DeliveryState.FAILED
    assert states[other.pk] == DeliveryState.FAILED


def test_replaying_failed_deliveries_from_the_year_1_is_a_form_error_not_a_500(admin_client):
    # 0001-01-01 00:00 in Europe/Amsterdam is before datetime.min in UTC: OverflowError.
    integration = PartnerIntegrationFactory()
    url = reverse("admin:integrations_webhookdelivery_replay_failed")

    response = admin_client.post(
        url,
        {
            "integration": integration.pk,
            "created_from": "0001-01-01 00:00:00",
            "created_to": "9999-12-31 23:59:59",
        },
    )

    assert response.status_code == 200
    assert "out of range" in response.content.decode()


def test_holds_are_listed_and_can_be_resumed(admin_client):
    integration = PartnerIntegrationFactory()
    hold = DeliveryHold.objects.create(
        integration=integration,
        state=DeliveryHoldState.HELD,
        manual_resume_required=True,
        reason="410 Gone",
    )
    changelist = reverse("admin:integrations_deliveryhold_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert (
        admin_client.get(
            reverse("admin:integrations_deliveryhold_change", args=[hold.pk])
        ).status_code
        == 200
    )

    admin_client.post(changelist, {"action": "resume", "_selected_action": [hold.pk]})

    hold.refresh_from_db()
    assert hold.state == DeliveryHoldState.DRAINING


def test_holds_list_shows_what_needs_attention_unless_asked_for_all(admin_client):
    healthy = DeliveryHold.objects.create(integration=PartnerIntegrationFactory())
    failing = DeliveryHold.objects.create(
        integration=PartnerIntegrationFactory(), consecutive_failures=2, reason="HTTP 503"
    )
    held = DeliveryHold.objects.create(
        integration=PartnerIntegrationFactory(), state=DeliveryHoldState.HELD
    )
    draining = DeliveryHold.objects.create(
        integration=PartnerIntegrationFactory(), state=DeliveryHoldState.DRAINING
    )
    changelist = reverse("admin:integrations_deliveryhold_changelist")

    def listed(response) -> set[int]:
        return {hold.pk for hold in response.context["cl"].result_list}

    default = admin_client.get(changelist)
    everything = admin_client.get(changelist, {"attention": "all"})

    assert listed(default) == {failing.pk, held.pk, draining.pk}
    assert "Needs attention" in default.content.decode()
    assert listed(everything) == {healthy.pk, failing.pk, held.pk, draining.pk}


def run_integration_action(admin_client, action, integration):
    return admin_client.post(
        reverse("admin:integrations_partnerintegration_changelist"),
        {"action": action, "_selected_action": [integration.pk]},
        follow=True,
    )


def test_the_integration_changelist_offers_every_integration_action(admin_client):
    PartnerIntegrationFactory()

    page = admin_client.get(reverse("admin:integrations_partnerintegration_changelist"))

    html = page.content.decode()
    for action in (
        "rotate_webhook_secret",
        "send_test_webhook",
        "test_connection",
        "resume_webhook_deliveries",
    ):
        assert f'value="{action}"' in html


def test_send_test_webhook_action_shows_the_result(admin_client, partner_hook):
    integration = PartnerIntegrationFactory(webhook_url=partner_hook)

    response = run_integration_action(admin_client, "send_test_webhook", integration)

    [message] = list(response.context["messages"])
    assert "answered 200" in message.message
    assert message.level_tag == "success"


def test_test_connection_action_shows_the_exact_failure(admin_client, httpserver):
    httpserver.expect_request("/v1").respond_with_response(Response("no", status=401))
    integration = PartnerIntegrationFactory(api_base_url=httpserver.url_for("/v1"))

    response = run_integration_action(admin_client, "test_connection", integration)

    [message] = list(response.context["messages"])
    assert "refused our api_key credentials (HTTP 401)" in message.message
    assert message.level_tag == "error"


def test_the_integration_admin_offers_send_test_webhook_and_test_connection(
    admin_client, partner_hook, httpserver
):
    httpserver.expect_request("/v1").respond_with_response(Response("{}", status=200))
    integration = PartnerIntegrationFactory(
        webhook_url=partner_hook, api_base_url=httpserver.url_for("/v1")
    )
    changelist = reverse("admin:integrations_partnerintegration_changelist")

    ping = admin_client.post(
        changelist,
        {"action": "send_test_webhook", "_selected_action": [integration.pk]},
        follow=True,
    )
    connect = admin_client.post(
        changelist,
        {"action": "test_connection", "_selected_action": [integration.pk]},
        follow=True,
    )

    assert "answered 200" in ping.content.decode()
    assert "Authenticated with" in connect.content.decode()
    # The admin capitalises messages; the integration's name must still read as written.
    name = integration.integration_name
    assert f"Test webhook, {name}: " in ping.content.decode()
    assert f"Connection test, {name}: " in connect.content.decode()
