import json
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from tests.factories import PartnerIntegrationFactory


class PartnerClient:
    """Calls the partner API exactly as a partner would: Standard Webhooks signed requests."""

    def __init__(self, client, integration, secret: str | None = None):
        self.client = client
        self.integration = integration
        self.secret = secret or integration.webhook_secret

    def url(self, suffix: str = "orders/", integration_name: str | None = None) -> str:
        name = integration_name or self.integration.integration_name
        return f"/api/v1/partners/{name}/{suffix}"

    def signed_headers(
        self,
        body: str,
        *,
        msg_id: str | None = None,
        timestamp: datetime | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        timestamp = timestamp or datetime.now(tz=UTC)
        signature = Webhook(secret or self.secret).sign(
            msg_id=msg_id, timestamp=timestamp, data=body
        )
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        }

    def post(self, suffix: str, payload, *, raw: str | bytes | None = None, headers=None, **kw):
        body = raw if raw is not None else json.dumps(payload)
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        sign_kwargs = {k: kw.pop(k) for k in ("msg_id", "timestamp", "secret") if k in kw}
        signed = self.signed_headers(text, **sign_kwargs)
        if headers is not None:
            signed = {**signed, **headers}
            signed = {k: v for k, v in signed.items() if v is not None}
        content_type = kw.pop("content_type", "application/json")
        return self.client.post(
            self.url(suffix, kw.pop("integration_name", None)),
            data=body,
            content_type=content_type,
            headers=signed,
            **kw,
        )

    def create(self, payload, **kw):
        return self.post("orders/", payload, **kw)

    def status(self, partner_order_id: str, payload, **kw):
        return self.post(f"orders/{partner_order_id}/status/", payload, **kw)

    def get(self, partner_order_id: str, **kw):
        sign_kwargs = {k: kw.pop(k) for k in ("msg_id", "timestamp", "secret") if k in kw}
        return self.client.get(
            self.url(f"orders/{partner_order_id}/", kw.pop("integration_name", None)),
            headers=self.signed_headers("", **sign_kwargs),
            **kw,
        )


@pytest.fixture(autouse=True)
def _fresh_integration_cache():
    from integrations.inbound import integration_cache_clear

    integration_cache_clear()
    yield
    integration_cache_clear()


@pytest.fixture
def integration(db):
    return PartnerIntegrationFactory(integration_name="volvo_dealer_api")


@pytest.fixture
def partner(client, integration):
    return PartnerClient(client, integration)


def order_payload(**overrides) -> dict:
    payload = {
        "partner_order_id": "VLV-2025-789123",
        "partner_customer_id": "CUST-456789",
        "dealer_group_id": "VAN_MOSSEL_WEST",
        "purchase_order_number": "PO-20250601-001",
        "partner_lead_id": "LEAD-789456",
        "dealer_reference_number": "DLR-REF-2025-123",
        "customer_name": "Sanne de Vries",
        "customer_email": "sanne@example.nl",
        "installation_city": "Utrecht",
    }
    payload.update(overrides)
    return payload


def status_payload(status: str, occurred_at: str = "2025-06-01T10:30:00Z", **extra) -> dict:
    return {"status": status, "occurred_at": occurred_at, **extra}
