"""Schema-based fuzzing of the partner API with schemathesis, against the WSGI app.

Most generated requests are signed with the integration's secret so they reach input
validation and the services; the rest keep the generated (invalid) signature headers.
No response may be a 5xx, and every response must match the schema.
"""

import hashlib
import json
from datetime import UTC, datetime

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook

from chargecars.wsgi import application
from integrations.api.partner_orders import partner_order_create
from tests.factories import PartnerIntegrationFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXISTING_ORDER = "FUZZ-ORDER-1"


@pytest.fixture
def keep_test_connection():
    """Calling the WSGI app directly fires request signals that would close the test's
    connection in the middle of its transaction; Django's test client avoids the same."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_integration(db, settings, keep_test_connection):
    settings.PARTNER_API_RATE_LIMIT = "0"
    integration = PartnerIntegrationFactory(integration_name="fuzz_partner")
    # Not through the test client: it reconnects the signal handlers after each request.
    partner_order_create(
        integration=integration,
        data={"partner_order_id": EXISTING_ORDER, "customer_name": "Fuzz Customer"},
    )
    return integration


def _bucket(case, salt: str) -> int:
    return hashlib.sha256(f"{salt}{case.path_parameters}{case.headers}".encode()).digest()[0] % 4


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_partner_api_never_fails_and_always_matches_its_schema(case, fuzz_integration):
    if "integration_name" in (case.path_parameters or {}) and _bucket(case, "i"):
        case.path_parameters["integration_name"] = fuzz_integration.integration_name
    if "partner_order_id" in (case.path_parameters or {}) and _bucket(case, "o") < 2:
        case.path_parameters["partner_order_id"] = EXISTING_ORDER
    kwargs = {}
    if case.method.upper() == "POST":
        if isinstance(case.body, NotSet):
            raw = b""
        elif isinstance(case.body, bytes):
            raw = case.body
        else:
            raw = json.dumps(case.body).encode()
        body = raw.decode("utf-8", errors="replace")
        kwargs["data"] = raw
        kwargs["headers"] = {"Content-Type": "application/json"}
    else:
        body = ""
    if _bucket(case, "s"):
        msg_id = "fuzz_" + hashlib.sha256(body.encode() + str(case.id).encode()).hexdigest()
        now = datetime.now(tz=UTC)
        kwargs.setdefault("headers", {}).update(
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(fuzz_integration.webhook_secret).sign(
                    msg_id, now, body
                ),
            }
        )

    response = case.call(**kwargs)

    case.validate_response(response, checks=CHECKS)
