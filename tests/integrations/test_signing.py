import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.models import InboundEvent, RetiredWebhookSecret
from integrations.secrets import generate_webhook_secret
from integrations.signing import (
    SignatureError,
    signature_headers,
    webhook_request_verify,
    webhook_secret_rotate,
)
from tests.factories import PartnerIntegrationFactory

Verdict = InboundEvent.Verdict
BODY = b'{"partner_order_id": "VLV-1"}'


def signed(secret, body=BODY, *, msg_id="msg_1", timestamp=None):
    timestamp = timestamp or datetime.now(tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, timestamp, body.decode()),
    }


@pytest.fixture
def integration(db):
    return PartnerIntegrationFactory()


def refused(integration, headers, body=BODY) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        webhook_request_verify(integration=integration, headers=headers, body=body)
    return caught.value


def test_a_request_signed_with_the_current_secret_is_accepted(integration):
    headers = signed(integration.webhook_secret)

    assert webhook_request_verify(integration=integration, headers=headers, body=BODY) == (
        BODY.decode()
    )


def test_several_signatures_are_accepted_when_one_matches(integration):
    headers = signed(integration.webhook_secret)
    other = Webhook(generate_webhook_secret()).sign("msg_1", datetime.now(tz=UTC), "x")
    headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"

    webhook_request_verify(integration=integration, headers=headers, body=BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused_naming_it(integration, missing):
    headers = signed(integration.webhook_secret)
    del headers[missing]

    error = refused(integration, headers)

    assert error.verdict == Verdict.MISSING
    assert missing in error.reason


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("deadbeef", "has no comma"),
        ("v1,not base64!!", "base64"),
        ("v1," + base64.b64encode(b"short").decode(), "32-byte"),
        ("v2," + base64.b64encode(b"x" * 32).decode(), "no 'v1,' signature"),
        ("v1a," + base64.b64encode(b"x" * 32).decode(), "no 'v1,' signature"),
        ("", "Missing header"),
    ],
)
def test_a_malformed_signature_header_is_refused_with_a_reason(integration, signature, reason):
    headers = signed(integration.webhook_secret)
    headers["webhook-signature"] = signature

    error = refused(integration, headers)

    assert reason in error.reason


@pytest.mark.parametrize(
    "timestamp", ["abc", "1.5e9", "-100", "\uff11\uff12\uff13", "99999999999999999"]
)
def test_a_non_numeric_timestamp_is_malformed(integration, timestamp):
    headers = signed(integration.webhook_secret)
    headers["webhook-timestamp"] = timestamp

    assert refused(integration, headers).verdict == Verdict.MALFORMED


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_outside_five_minutes_is_refused_as_expired(integration, offset):
    headers = signed(integration.webhook_secret, timestamp=datetime.now(tz=UTC) + offset)

    error = refused(integration, headers)

    assert error.verdict == Verdict.EXPIRED
    assert "within 300 s" in error.reason


def test_a_timestamp_within_tolerance_is_accepted(integration):
    headers = signed(
        integration.webhook_secret, timestamp=datetime.now(tz=UTC) - timedelta(minutes=4)
    )

    webhook_request_verify(integration=integration, headers=headers, body=BODY)


def test_a_signature_made_with_another_secret_is_a_mismatch(integration):
    error = refused(integration, signed(generate_webhook_secret()))

    assert error.verdict == Verdict.MISMATCH


def test_a_changed_body_is_a_mismatch(integration):
    headers = signed(integration.webhook_secret)

    assert refused(integration, headers, body=BODY + b" ").verdict == Verdict.MISMATCH


def test_a_non_utf8_body_is_refused_as_malformed(integration):
    headers = signed(integration.webhook_secret)

    error = refused(integration, headers, body=b"\xff\xfe{}")

    assert error.verdict == Verdict.MALFORMED
    assert "UTF-8" in error.reason


@pytest.mark.parametrize("msg_id", ["a" * 256, "id with\nnewline", "idé"])
def test_a_malformed_webhook_id_is_refused(integration, msg_id):
    headers = signed(integration.webhook_secret, msg_id="ok")
    headers["webhook-id"] = msg_id

    assert refused(integration, headers).verdict == Verdict.MALFORMED


def test_an_integration_without_secret_refuses_everything(integration):
    integration.webhook_secret = None

    error = refused(integration, signed(generate_webhook_secret()))

    assert "no webhook secret" in error.reason


def test_rotation_retires_the_old_secret_for_the_grace_period(integration, settings):
    settings.WEBHOOK_SECRET_GRACE_PERIOD = timedelta(hours=24)
    old = integration.webhook_secret

    new = webhook_secret_rotate(integration=integration)

    integration.refresh_from_db()
    assert integration.webhook_secret == new != old
    retired = RetiredWebhookSecret.objects.get(integration=integration)
    assert retired.secret == old
    expected = timezone.now() + timedelta(hours=24)
    assert abs((retired.valid_until - expected).total_seconds()) < 5


def test_the_old_secret_verifies_during_the_grace_period(integration):
    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)
    integration.refresh_from_db()

    webhook_request_verify(integration=integration, headers=signed(old), body=BODY)
    webhook_request_verify(
        integration=integration, headers=signed(integration.webhook_secret), body=BODY
    )


def test_the_old_secret_is_refused_after_the_grace_period(integration):
    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)
    RetiredWebhookSecret.objects.update(valid_until=timezone.now() - timedelta(seconds=1))
    integration.refresh_from_db()

    assert refused(integration, signed(old)).verdict == Verdict.MISMATCH


def test_outbound_headers_carry_one_signature_per_valid_secret(integration):
    old = integration.webhook_secret
    webhook_secret_rotate(integration=integration)
    integration.refresh_from_db()
    from integrations.signing import webhook_secrets_valid_now

    headers = signature_headers(
        secrets=webhook_secrets_valid_now(integration),
        msg_id="msg_9",
        timestamp=datetime.now(tz=UTC),
        body="{}",
    )

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify("{}", headers, json_parse=False)
