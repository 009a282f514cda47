import json
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from chargecars.celery import app as celery_app
from integrations.http import sessions_close
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
    from integrations.api.selectors import integration_cache_clear

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


@pytest.fixture
def eager_celery():
    """Run tasks in-process (the real-worker tests live in test_tasks_worker.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _health_every_time(settings):
    settings.WEBHOOK_HEALTH_REFRESH_SECONDS = 0  # exact success rates after each batch


@pytest.fixture(autouse=True)
def _fresh_sessions():
    yield
    sessions_close()


@pytest.fixture
def webhook_integration(httpserver):
    """A real-time integration whose webhook_url is the local partner server."""
    return PartnerIntegrationFactory(
        webhook_url=httpserver.url_for("/webhooks/chargecars"),
        webhook_events=[
            "order_created",
            "order_approved",
            "installation_started",
            "installation_completed",
            "order_cancelled",
        ],
    )


class Received:
    """What the partner server received, each request verified like a partner would."""

    def __init__(self):
        self.requests = []

    def verified(self, secret: str) -> list[dict]:
        out = []
        for request in self.requests:
            headers = {k.lower(): v for k, v in request.headers.items()}
            payload = Webhook(secret).verify(request.get_data(as_text=True), headers)
            out.append({"headers": headers, "payload": payload})
        return out

    @property
    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(request.get_data()) for request in self.requests]


@pytest.fixture
def received():
    return Received()


@pytest.fixture
def unused_tcp_port():
    """A port on 127.0.0.1 nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
