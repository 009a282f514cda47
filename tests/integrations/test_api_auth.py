import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.models import InboundEvent, RetiredWebhookSecret
from integrations.secrets import generate_webhook_secret
from integrations.signing import webhook_secret_rotate
from orders.models import Order
from tests.integrations.conftest import order_payload

pytestmark = pytest.mark.django_db


def assert_unauthorized(response, reason: str):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-signature")
    assert reason in problem["detail"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"webhook-signature": None}, "Missing header(s): webhook-signature"),
        ({"webhook-id": None, "webhook-timestamp": None}, "webhook-id, webhook-timestamp"),
        ({"webhook-signature": "v1AAAA"}, "has no comma"),
        ({"webhook-signature": "v1,%%%"}, "base64"),
        ({"webhook-signature": "v2,AAAA"}, "only version v1"),
        ({"webhook-timestamp": "yesterday"}, "whole seconds"),
    ],
)
def test_malformed_signature_headers_answer_401_with_a_reason(partner, headers, reason):
    assert_unauthorized(partner.create(order_payload(), headers=headers), reason)


@pytest.mark.parametrize("other", ["v2,a,b", "v0,,", "v1a,x,y,z"])
def test_signatures_of_other_versions_are_ignored_whatever_their_shape(partner, other):
    body = order_payload()
    signed = partner.signed_headers(json.dumps(body))
    wrong = {**signed, "webhook-signature": f"{other} v1,{'A' * 43}="}
    right = {**signed, "webhook-signature": f"{other} {signed['webhook-signature']}"}

    refused = partner.create(body, headers=wrong)
    accepted = partner.create(body, headers=right)

    assert refused.status_code == 401
    assert "No signature matches" in refused.json()["detail"]
    assert accepted.status_code == 201


def test_an_expired_timestamp_answers_401(partner):
    response = partner.create(
        order_payload(), timestamp=datetime.now(tz=UTC) - timedelta(minutes=10)
    )

    assert_unauthorized(response, "old")


def test_a_wrong_secret_answers_401(partner):
    response = partner.create(order_payload(), secret=generate_webhook_secret())

    assert_unauthorized(response, "No signature matches")


def test_a_non_utf8_body_answers_401(partner):
    response = partner.create(None, raw=b'{"partner_order_id": "\xff"}')

    assert_unauthorized(response, "UTF-8")


def test_refused_signatures_are_stored_with_their_verdict_without_the_signature(partner):
    partner.create(order_payload(), secret=generate_webhook_secret(), msg_id="msg_bad")

    event = InboundEvent.objects.get()
    assert event.signature_verdict == InboundEvent.Verdict.MISMATCH
    assert event.outcome == InboundEvent.Outcome.UNAUTHORIZED
    assert event.response_status == 401
    assert event.webhook_id == "msg_bad"
    assert "not stored" in event.headers["webhook-signature"]
    assert "v1," not in str(event.headers)
    assert partner.integration.webhook_secret not in str(event.headers)


def test_credential_headers_a_partner_sends_are_not_stored_with_the_event(partner):
    credentials = {
        "Authorization": "Bearer hdr-bearer-s3cr3t",
        "X-API-Key": "hdr-apikey-s3cr3t",
        "Api-Key": "hdr-apikey2-s3cr3t",
        "X-Auth-Token": "hdr-token-s3cr3t",
        "X-Client-Secret": "hdr-client-s3cr3t",
        "Cookie": "sessionid=hdr-cookie-s3cr3t",
        # API gateways' and cloud functions' keys
        "Ocp-Apim-Subscription-Key": "hdr-apim-s3cr3t",
        "X-Functions-Key": "hdr-functions-s3cr3t",
        "X-Access-Key": "hdr-access-s3cr3t",
        "X-Client-Credential": "hdr-credential-s3cr3t",
    }

    response = partner.create(
        order_payload(),
        headers={**credentials, "X-Request-Id": "req-1", "Idempotency-Key": "idem-1"},
    )

    assert response.status_code == 201
    event = InboundEvent.objects.get()
    assert event.headers["x-request-id"] == "req-1"
    assert event.headers["idempotency-key"] == "idem-1"
    assert "s3cr3t" not in str(event.headers)


def test_an_unknown_integration_answers_404(partner):
    response = partner.create(order_payload(), integration_name="no_such_partner")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_an_inactive_integration_answers_403_saying_it_is_disabled(partner, integration):
    integration.is_active = False
    integration.save()

    response = partner.create(order_payload())

    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("/integration-disabled")
    assert "disabled" in problem["detail"]
    assert InboundEvent.objects.get().outcome == InboundEvent.Outcome.FORBIDDEN


def test_the_old_secret_is_accepted_during_the_rotation_grace_period(partner, integration):
    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)

    response = partner.create(order_payload(), secret=old)

    assert response.status_code == 201


def test_the_new_secret_is_accepted_right_after_rotation(partner, integration):
    new = webhook_secret_rotate(integration=integration)

    assert partner.create(order_payload(), secret=new).status_code == 201


def test_the_old_secret_is_refused_once_the_grace_period_is_over(partner, integration):
    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)
    RetiredWebhookSecret.objects.update(valid_until=timezone.now() - timedelta(seconds=1))

    assert_unauthorized(partner.create(order_payload(), secret=old), "No signature matches")


def test_the_retired_secret_is_stored_encrypted(integration):
    from django.db import connection

    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM partner_integration_retired_secrets")
        (raw,) = cursor.fetchone()
    assert old not in raw
