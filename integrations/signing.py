"""Standard Webhooks signatures, both ways, with the integration's current and grace secrets."""

import base64
import binascii
import time
from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.models import InboundEvent, PartnerIntegration, RetiredWebhookSecret
from integrations.secrets import generate_webhook_secret


def webhook_secrets_valid_now(integration: PartnerIntegration) -> list[str]:
    """The current secret first, then rotated-out secrets still in their grace period."""
    secrets = [integration.webhook_secret] if integration.webhook_secret else []
    retired = RetiredWebhookSecret.objects.filter(
        integration=integration, valid_until__gt=timezone.now()
    ).values_list("secret", flat=True)
    return secrets + list(retired)


def signature_headers(
    *, secrets: list[str], msg_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """Headers for an outbound message: one v1 signature per secret, space-separated."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }


# --- Inbound verification --------------------------------------------------------------------

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# The Standard Webhooks tolerance, which the standardwebhooks package also enforces.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
MAX_WEBHOOK_ID_LENGTH = 255
MAX_SIGNATURES = 10


class SignatureError(Exception):
    """The request's signature is refused; ``reason`` tells the partner what to fix."""

    def __init__(self, verdict: str, reason: str):
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def _check_header_shapes(headers: Mapping[str, str], body: bytes) -> str:
    """Refuse malformed headers and bodies with a reason, before the HMAC library sees them.

    Returns the body as text (the library signs text).
    """
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        raise SignatureError(
            InboundEvent.Verdict.MISSING,
            f"Missing header(s): {', '.join(missing)}. Sign every request with Standard "
            "Webhooks headers webhook-id, webhook-timestamp and webhook-signature.",
        )
    msg_id = headers["webhook-id"]
    if len(msg_id) > MAX_WEBHOOK_ID_LENGTH or not msg_id.isascii() or not msg_id.isprintable():
        raise SignatureError(
            InboundEvent.Verdict.MALFORMED,
            f"webhook-id must be 1-{MAX_WEBHOOK_ID_LENGTH} printable ASCII characters.",
        )
    raw_timestamp = headers["webhook-timestamp"]
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise SignatureError(
            InboundEvent.Verdict.MALFORMED,
            "webhook-timestamp must be the send time in whole seconds since the Unix epoch.",
        )
    skew = int(raw_timestamp) - time.time()
    if abs(skew) > TIMESTAMP_TOLERANCE_SECONDS:
        direction = "in the future" if skew > 0 else "old"
        raise SignatureError(
            InboundEvent.Verdict.EXPIRED,
            f"webhook-timestamp is {abs(int(skew))} s {direction}; it must be within "
            f"{TIMESTAMP_TOLERANCE_SECONDS} s of our clock. Sign each request (and each "
            "retry) when you send it, and keep your clock in sync (NTP).",
        )
    _check_signatures(headers["webhook-signature"])
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError(
            InboundEvent.Verdict.MALFORMED, "The request body must be UTF-8 encoded JSON."
        ) from None


def _check_signatures(header: str) -> None:
    """Refuse a webhook-signature header that is not a short list of v1 HMAC-SHA256 values
    (other versions are let through and ignored)."""
    signatures = header.split(" ")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureError(
            InboundEvent.Verdict.MALFORMED, f"At most {MAX_SIGNATURES} signatures are accepted."
        )
    has_v1 = False
    for signature in signatures:
        version, comma, value = signature.partition(",")
        if not comma:
            raise SignatureError(
                InboundEvent.Verdict.MALFORMED,
                "webhook-signature must be space-separated 'v1,<base64 HMAC-SHA256>' values; "
                f"{signature[:20]!r} has no comma.",
            )
        if version != "v1":
            continue  # other schemes may be added by the standard; v1 is required below
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 32:
            raise SignatureError(
                InboundEvent.Verdict.MALFORMED,
                "webhook-signature: the part after 'v1,' must be the standard base64 of a "
                "32-byte HMAC-SHA256.",
            )
        has_v1 = True
    if not has_v1:
        raise SignatureError(
            InboundEvent.Verdict.MALFORMED,
            "webhook-signature has no 'v1,' signature; only version v1 (HMAC-SHA256) is accepted.",
        )


def _signed_by(secret: str, text: str, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(text, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def webhook_request_verify(
    *, integration: PartnerIntegration, headers: Mapping[str, str], body: bytes
) -> str:
    """Verify a partner's Standard Webhooks signature; return the body as text.

    The current secret is tried first; rotated-out secrets still in their grace period
    are only read from the database when it does not match. Raises ``SignatureError``.
    """
    text = _check_header_shapes(headers, body)
    signed = {name: headers[name] for name in SIGNATURE_HEADERS}
    # Only the v1 signatures (their shape checked above) go to the library, which would
    # choke on an unchecked entry of another version; v1 is what we verify.
    signed["webhook-signature"] = " ".join(
        signature for signature in signed["webhook-signature"].split(" ") if signature[:3] == "v1,"
    )
    if integration.webhook_secret and _signed_by(integration.webhook_secret, text, signed):
        return text
    for secret in webhook_secrets_valid_now(integration)[1 if integration.webhook_secret else 0 :]:
        if _signed_by(secret, text, signed):
            return text
    if not integration.webhook_secret:
        raise SignatureError(
            InboundEvent.Verdict.MISMATCH,
            "This integration has no webhook secret configured; ask ChargeCars to issue one.",
        )
    raise SignatureError(
        InboundEvent.Verdict.MISMATCH,
        "No signature matches. Sign '<webhook-id>.<webhook-timestamp>.<exact body bytes>' "
        "with HMAC-SHA256 using the base64-decoded part of your whsec_ secret.",
    )


# --- Rotation -------------------------------------------------------------------------------


@transaction.atomic
def webhook_secret_rotate(*, integration: PartnerIntegration, user=None) -> str:
    """Give ``integration`` a new webhook secret; the old one stays valid for the grace period.

    Returns the new secret, which the caller shows once.
    """
    locked = PartnerIntegration.objects.select_for_update().get(pk=integration.pk)
    now = timezone.now()
    if locked.webhook_secret:
        retired = RetiredWebhookSecret(
            integration=locked,
            secret=locked.webhook_secret,
            retired_at=now,
            valid_until=now + settings.WEBHOOK_SECRET_GRACE_PERIOD,
            retired_by=user,
        )
        retired.full_clean()
        retired.save()
    new_secret = generate_webhook_secret()
    locked.webhook_secret = new_secret
    locked.save(update_fields=["webhook_secret"])
    integration.webhook_secret = new_secret
    return new_secret
