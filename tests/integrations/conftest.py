import json

import pytest
from standardwebhooks.webhooks import Webhook

from chargecars.celery import app as celery_app
from integrations.http import sessions_close
from tests.factories import PartnerIntegrationFactory


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
