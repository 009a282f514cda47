"""The sandbox partner: token endpoint, feed, webhook receiver and its calls to our API."""

import json

import pytest
import requests

from integrations.examples import SANDBOX_INTEGRATION_NAME, example_partners_load
from integrations.models import DeliveryState, PartnerIntegration, WebhookDelivery
from integrations.outbound.send import delivery_send
from integrations.sync.sandbox.partner import ChargeCarsCaller, PartnerLife
from orders.models import Order
from orders.services import order_change_status, order_create
from tests.integrations.sync.conftest import CLIENT_ID, CLIENT_SECRET, sandbox_integration

pytestmark = pytest.mark.django_db


def token(sandbox) -> str:
    response = requests.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def test_the_feed_needs_a_token_and_checks_its_parameters(sandbox):
    assert requests.get(f"{sandbox.url}/orders", timeout=5).status_code == 401
    wrong = requests.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "wrong"),
        timeout=5,
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    headers = {"Authorization": f"Bearer {token(sandbox)}"}

    bad = requests.get(f"{sandbox.url}/orders", params={"limit": 501}, headers=headers, timeout=5)
    page = requests.get(f"{sandbox.url}/orders", params={"limit": 10}, headers=headers, timeout=5)

    assert bad.status_code == 400
    assert bad.json()["fields"] == {"limit": "a whole number from 1 to 500"}
    body = page.json()
    assert len(body["orders"]) == 10 and body["next_cursor"]
    assert set(body["orders"][0]) >= {"partner_order_id", "status", "updated_at", "customer_name"}


def test_the_sandbox_verifies_our_webhooks_and_lists_them(
    sandbox, eager_celery, django_capture_on_commit_callbacks
):
    integration = sandbox_integration(
        sandbox, webhook_events=["order_created", "order_approved"], sync_frequency="real_time"
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(
            source="partner",
            integration=integration,
            customer_name="Jan",
            partner_external_references={"partner_order_id": "SBX-1"},
        )
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=order, to_status="approved", source="staff")

    received = requests.get(f"{sandbox.url}/webhooks.json", timeout=5).json()

    assert [(item["event"], item["verified"]) for item in received] == [
        ("order_approved", True),
        ("order_created", True),
    ]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}
    page = requests.get(f"{sandbox.url}/", timeout=5).text
    assert "Webhooks received from ChargeCars (2 of 2 verified)" in page
    assert "SBX-1 -&gt; INSTALL_PLANNED (sequence 2)" in page


def test_a_webhook_signed_with_another_secret_is_refused_by_the_sandbox(sandbox):
    integration = sandbox_integration(
        sandbox, webhook_events=["order_created"], sync_frequency="real_time"
    )
    sandbox.hooked.clear()  # the sandbox knows no secret of this integration
    order_create(
        source="partner",
        integration=integration,
        customer_name="Jan",
        partner_external_references={"partner_order_id": "SBX-1"},
    )
    delivery = WebhookDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)

    received = requests.get(f"{sandbox.url}/webhooks.json", timeout=5).json()
    assert [item["verified"] for item in received] == [False]
    delivery.refresh_from_db()
    assert delivery.last_status_code == 401


def test_the_sandbox_partner_calls_our_api_signed(live_server, start_sandbox):
    sandbox = start_sandbox(orders=0)
    integration = sandbox_integration(sandbox)
    caller = ChargeCarsCaller(
        base_url=live_server.url,
        integration_name=integration.integration_name,
        secret=lambda: integration.webhook_secret,
    )
    life = PartnerLife(sandbox, caller, tick=60)
    order = sandbox.world.order_new()

    assert caller.order_create(order) == "201 Created"
    moved = sandbox.world.order_move(order.partner_order_id, "INSTALL_PLANNED")
    assert caller.status_update(moved) == "200 OK"
    life._tell(moved, created=False, pushed=False)

    ours = Order.objects.get(source_integration=integration)
    assert (ours.partner_order_id, ours.status) == (order.partner_order_id, "approved")
    assert "left for the sync to find" in sandbox.activity.api_calls[0]


def test_the_example_loader_adds_the_sandbox_partner_only_where_local_urls_are_allowed(settings):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    example_partners_load()
    assert not PartnerIntegration.objects.filter(integration_name=SANDBOX_INTEGRATION_NAME).exists()

    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = True
    settings.PARTNER_SANDBOX_PORT = 8765
    example_partners_load()

    sandbox = PartnerIntegration.objects.get(integration_name=SANDBOX_INTEGRATION_NAME)
    assert sandbox.partner_organization.name == "ChargeCars sandbox partner"
    assert sandbox.api_base_url == "http://127.0.0.1:8765"
    assert sandbox.authentication_type == "oauth2"
    assert sandbox.api_credentials["token_endpoint"] == "http://127.0.0.1:8765/oauth/token"
    assert sandbox.api_credentials["client_secret"] != "{encrypted_secret}"
    assert sandbox.webhook_secret.startswith("whsec_")
    assert json.dumps(sandbox.status_mapping).count("INSTALL_PLANNED") == 2


def test_run_partner_sandbox_serves_n_frozen_orders(unused_tcp_port):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_partner_sandbox",
            f"--port={unused_tcp_port}",
            "--orders=7",
            "--client-id=cli",
            "--client-secret=sec-0123456789",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(f"Sandbox partner on http://127.0.0.1:{unused_tcp_port} (7 orders")
        base = f"http://127.0.0.1:{unused_tcp_port}"
        token = requests.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "cli",
                "client_secret": "sec-0123456789",
            },
            timeout=5,
        ).json()["access_token"]
        time.sleep(0.2)
        page = requests.get(
            f"{base}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).json()
        assert len(page["orders"]) == 7 and page["next_cursor"] is None
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
