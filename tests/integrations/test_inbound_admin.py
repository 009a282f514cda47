import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.urls import reverse

from integrations.models import InboundEvent, RetiredWebhookSecret
from orders.models import Order
from tests.integrations.conftest import order_payload, status_payload

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:integrations_inboundevent_changelist")


def test_the_inbound_event_changelist_renders_with_filters_and_search(admin_client, partner):
    partner.create(order_payload())

    response = admin_client.get(CHANGELIST, {"q": "VLV-2025-789123", "outcome": "created"})

    assert response.status_code == 200
    assert b"VLV-2025-789123" in response.content


def test_the_changelist_stays_at_a_constant_number_of_queries(
    admin_client, partner, django_assert_max_num_queries
):
    for n in range(30):
        partner.create(order_payload(partner_order_id=f"Q-{n}"))

    with django_assert_max_num_queries(12):
        assert admin_client.get(CHANGELIST).status_code == 200


def test_the_change_form_renders_read_only_without_the_signature(admin_client, partner):
    partner.create(order_payload())
    event = InboundEvent.objects.get()

    response = admin_client.get(reverse("admin:integrations_inboundevent_change", args=[event.pk]))

    assert response.status_code == 200
    assert b"VLV-2025-789123" in response.content
    assert partner.integration.webhook_secret.encode() not in response.content
    assert b"Save" not in response.content


def test_reprocessing_a_rejected_event_applies_it_after_ops_fixed_the_mapping(
    admin_client, partner, integration
):
    partner.create(order_payload(partner_order_id="R-1"))
    partner.status("R-1", status_payload("GOEDGEKEURD"))
    rejected = InboundEvent.objects.get(outcome="rejected")
    integration.status_mapping["partner_to_chargecars"]["GOEDGEKEURD"] = "approved"
    integration.save()

    response = admin_client.post(
        CHANGELIST, {"action": "reprocess", "_selected_action": [rejected.pk]}, follow=True
    )

    assert response.status_code == 200
    assert Order.objects.get().status == "approved"
    reprocessed = InboundEvent.objects.get(kind="reprocess")
    assert reprocessed.original == rejected
    assert reprocessed.outcome == "applied"
    assert f"Re-processed {rejected.webhook_id}: 200 Status applied" in str(
        list(get_messages(response.wsgi_request))
    )


def test_reprocessing_a_create_applies_nothing_twice(admin_client, partner):
    partner.create(order_payload())
    event = InboundEvent.objects.get()

    admin_client.post(CHANGELIST, {"action": "reprocess", "_selected_action": [event.pk]})

    assert Order.objects.count() == 1
    assert InboundEvent.objects.get(kind="reprocess").outcome == "existing"


def test_an_event_with_a_bad_signature_cannot_be_reprocessed(admin_client, partner):
    from integrations.secrets import generate_webhook_secret

    partner.create(order_payload(), secret=generate_webhook_secret())
    event = InboundEvent.objects.get()

    response = admin_client.post(
        CHANGELIST, {"action": "reprocess", "_selected_action": [event.pk]}, follow=True
    )

    assert "valid signature" in str(list(get_messages(response.wsgi_request)))
    assert Order.objects.count() == 0


def test_the_rotated_secret_waits_for_its_page_encrypted_not_readable_in_the_session(
    admin_client, integration
):
    url = reverse("admin:integrations_partnerintegration_changelist")

    response = admin_client.post(
        url, {"action": "rotate_webhook_secret", "_selected_action": [integration.pk]}
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    stored = [session.get_decoded() for session in Session.objects.all()]
    assert stored
    assert integration.webhook_secret not in str(stored)
    assert integration.webhook_secret.encode() in admin_client.get(response.url).content


def test_the_rotate_action_shows_the_new_secret_once_and_keeps_the_old_one(
    admin_client, integration
):
    old = integration.webhook_secret
    url = reverse("admin:integrations_partnerintegration_changelist")

    response = admin_client.post(
        url, {"action": "rotate_webhook_secret", "_selected_action": [integration.pk]}, follow=True
    )

    integration.refresh_from_db()
    assert integration.webhook_secret != old
    assert integration.webhook_secret.encode() in response.content
    assert RetiredWebhookSecret.objects.get(integration=integration).secret == old
    again = admin_client.get(url)
    assert integration.webhook_secret.encode() not in again.content
