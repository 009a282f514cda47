"""Ops journeys through the admin in a real browser: what an operator sees, step by step."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from chargecars.crypto import decrypt_text
from integrations.models import (
    DeliveryState,
    InboundEvent,
    PartnerIntegration,
    RetiredWebhookSecret,
    WebhookDelivery,
)
from integrations.secrets import mask_secret
from integrations.signing import webhook_secrets_valid_now
from orders.models import Order, StatusChangeSource
from orders.status import OrderStatus
from tests.e2e.conftest import stored_integration_column
from tests.factories import OrderFactory, PartnerIntegrationFactory
from tests.integrations.conftest import PartnerClient, order_payload, status_payload

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def ops_user(*permissions: str) -> User:
    """A staff user (not a superuser) with exactly these "app.codename" permissions."""
    user = User.objects.create_user("ops", "ops@chargecars.example", PASSWORD, is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def log_in(page, live_server, user: User) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(f"Welcome, {user.username}")


def run_action(page, action: str, *selected: str) -> None:
    """Tick the rows whose checkbox value is in ``selected``, pick ``action``, press Go."""
    for value in selected:
        page.check(f"input.action-select[value='{value}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def option_labels(page, selector: str) -> list[tuple[str, str]]:
    pairs = page.locator(f"{selector} option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    return [tuple(pair) for pair in pairs]


def test_ops_user_rotates_a_webhook_secret_and_sees_it_exactly_once(live_server, page):
    user = ops_user(
        "integrations.view_partnerintegration", "integrations.change_partnerintegration"
    )
    integration = PartnerIntegrationFactory(integration_name="volvo_dealer_api")
    bystander = PartnerIntegrationFactory(integration_name="polestar_api")
    old_secret = integration.webhook_secret
    bystander_secret = bystander.webhook_secret
    changelist = f"{live_server.url}/admin/integrations/partnerintegration/"
    change_page = f"{changelist}{integration.pk}/change/"

    log_in(page, live_server, user)
    page.goto(changelist)
    assert option_labels(page, "select[name=action]") == [
        ("", "---------"),
        ("rotate_webhook_secret", "Rotate webhook secret"),
        ("send_test_webhook", "Send test webhook (signed ping)"),
        ("test_connection", "Test connection to the partner API"),
        ("resume_webhook_deliveries", "Resume held webhook deliveries"),
        ("sync_integrations_now", "Sync now"),
    ]
    run_action(page, "rotate_webhook_secret", str(integration.pk))

    warning = page.locator(".messagelist .warning")
    expect(warning).to_have_count(1)
    shown = warning.locator("code").inner_text()
    assert shown.startswith("whsec_")
    assert shown != old_secret
    assert warning.inner_text() == (
        "New webhook secret for volvo_dealer_api (shown once, give it to the partner now): "
        f"{shown}. The previous secret stays valid for the grace period."
    )

    # What was shown is what is stored (encrypted), and the old secret is retired, not gone.
    integration.refresh_from_db()
    assert integration.webhook_secret == shown
    stored = stored_integration_column("webhook_secret", "volvo_dealer_api")
    assert shown not in stored
    assert decrypt_text(stored) == shown
    retired = RetiredWebhookSecret.objects.get(integration=integration)
    assert retired.secret == old_secret
    assert retired.retired_by == user
    assert retired.valid_until - retired.retired_at == settings.WEBHOOK_SECRET_GRACE_PERIOD
    assert webhook_secrets_valid_now(integration) == [shown, old_secret]
    # Only the selected integration was rotated.
    assert PartnerIntegration.objects.get(pk=bystander.pk).webhook_secret == bystander_secret
    assert not RetiredWebhookSecret.objects.filter(integration=bystander).exists()

    # Shown once: not after a reload, nor going back and forward in the history.
    page.reload()
    expect(page.locator("#result_list")).to_contain_text("volvo_dealer_api")
    expect(page.locator(".messagelist")).to_have_count(0)
    assert shown not in page.content()
    page.go_back()
    expect(page.locator("#result_list")).to_contain_text("volvo_dealer_api")
    assert shown not in page.content()
    page.go_forward()
    expect(page.locator("#result_list")).to_contain_text("volvo_dealer_api")
    assert shown not in page.content()

    # The change page shows the new secret masked, never in full, and never the old one.
    page.goto(change_page)
    expect(page.locator(".field-stored_webhook_secret .readonly")).to_have_text(mask_secret(shown))
    assert mask_secret(shown) != mask_secret(old_secret)
    expect(page.locator("#id_webhook_secret")).to_have_value("")
    html = page.content()
    assert shown not in html
    assert old_secret not in html


def test_ops_user_moves_an_order_to_its_next_status_on_the_order_page(live_server, page):
    user = ops_user("orders.view_order", "orders.change_order", "orders.view_orderstatuschange")
    order = OrderFactory(customer_name="Sanne de Vries", customer_email="sanne@example.nl")
    assert order.status == OrderStatus.NEW

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.click(f"#result_list a:text-is('{order.order_number}')")
    expect(page.locator("#content > h2")).to_have_text(order.order_number)
    current = page.locator(".field-current_status .readonly")
    expect(current).to_have_text("New — next: approved, cancelled")
    assert option_labels(page, "#id_change_status_to") == [
        ("", "— keep the current status —"),
        ("approved", "Approved"),
        ("cancelled", "Cancelled"),
    ]
    history = page.locator("#status_history-group tr.has_original")
    expect(history).to_have_count(1)

    page.select_option("#id_change_status_to", "approved")
    page.fill("#id_status_note", "Customer confirmed by phone")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    expect(current).to_have_text("Approved — next: in_progress, cancelled")
    assert option_labels(page, "#id_change_status_to") == [
        ("", "— keep the current status —"),
        ("in_progress", "In progress"),
        ("cancelled", "Cancelled"),
    ]
    expect(page.locator("#id_status_note")).to_have_value("")
    expect(history).to_have_count(2)
    created, approved = history.nth(0), history.nth(1)
    expect(created.locator("td.field-to_status")).to_have_text("New")
    expect(approved.locator("td.field-from_status")).to_have_text("New")
    expect(approved.locator("td.field-to_status")).to_have_text("Approved")
    expect(approved.locator("td.field-source")).to_have_text("Staff")
    expect(approved.locator("td.field-user")).to_have_text("ops")
    expect(approved.locator("td.field-integration_name")).to_have_text("—")
    expect(approved.locator("td.field-note")).to_have_text("Customer confirmed by phone")

    order.refresh_from_db()
    assert order.status == OrderStatus.APPROVED
    change = order.status_history.order_by("created_at", "id").last()
    assert (change.from_status, change.to_status, change.source, change.user) == (
        OrderStatus.NEW,
        OrderStatus.APPROVED,
        StatusChangeSource.STAFF,
        user,
    )


def test_ops_user_replays_a_failed_webhook_delivery_from_the_list(live_server, page):
    user = ops_user("integrations.view_webhookdelivery", "integrations.change_webhookdelivery")
    integration = PartnerIntegrationFactory(integration_name="volvo_dealer_api")
    order = OrderFactory()
    an_hour_ago = timezone.now() - timedelta(hours=1)

    def failed(sequence: int) -> WebhookDelivery:
        return WebhookDelivery.objects.create(
            integration=integration,
            order=order,
            event="order_approved",
            sequence=sequence,
            payload={"event": "order_approved", "sequence": sequence},
            state=DeliveryState.FAILED,
            attempts=8,
            schedule_position=8,
            created_at=an_hour_ago + timedelta(minutes=sequence),
            last_attempt_at=an_hour_ago + timedelta(minutes=30),
            last_status_code=503,
            last_error="HTTP 503 from the partner",
            completed_at=an_hour_ago + timedelta(minutes=30),
        )

    replayed, left_alone = failed(1), failed(2)
    replayed_row = f"#result_list tr:has(input.action-select[value='{replayed.pk}'])"
    other_row = f"#result_list tr:has(input.action-select[value='{left_alone.pk}'])"

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/admin/integrations/webhookdelivery/")
    for row in (replayed_row, other_row):
        expect(page.locator(f"{row} td.field-state")).to_have_text("Failed")
        expect(page.locator(f"{row} td.field-attempts")).to_have_text("8")
        expect(page.locator(f"{row} td.field-last_status_code")).to_have_text("503")
        expect(page.locator(f"{row} td.field-next_attempt_at")).to_have_text("-")
    expect(page.locator(f"{replayed_row} th.field-short_id")).to_have_text(str(replayed.pk)[:8])

    run_action(page, "replay_deliveries", str(replayed.pk))

    expect(page.locator(".messagelist .success")).to_have_text("1 deliveries queued again.")
    expect(page.locator(f"{replayed_row} td.field-state")).to_have_text("Pending")
    expect(page.locator(f"{replayed_row} td.field-next_attempt_at")).not_to_have_text("-")
    expect(page.locator(f"{other_row} td.field-state")).to_have_text("Failed")

    # The "Pending" filter lists the replayed delivery and nothing else.
    page.locator("#changelist-filter a:text-is('Pending')").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator(f"{replayed_row} td.field-state")).to_have_text("Pending")

    replayed.refresh_from_db()
    assert replayed.state == DeliveryState.PENDING
    assert replayed.schedule_position == 0
    assert replayed.completed_at is None
    assert replayed.attempts == 8  # the history of attempts is kept
    assert an_hour_ago < replayed.next_attempt_at <= timezone.now()
    left_alone.refresh_from_db()
    assert left_alone.state == DeliveryState.FAILED


def test_ops_user_reprocesses_a_partner_status_update_that_came_before_its_order(live_server, page):
    user = ops_user(
        "integrations.view_inboundevent",
        "integrations.change_partnerintegration",
        "orders.view_order",
        "orders.view_orderstatuschange",
    )
    integration = PartnerIntegrationFactory(integration_name="volvo_dealer_api")
    partner = PartnerClient(Client(), integration)
    early = partner.status(
        "VLV-2025-789123", status_payload("CONFIRMED"), msg_id="msg_status_too_early"
    )
    assert early.status_code == 404
    assert partner.create(order_payload(), msg_id="msg_create").status_code == 201
    order = Order.objects.get(source_integration=integration)
    assert order.status == OrderStatus.NEW
    status_event = InboundEvent.objects.get(webhook_id="msg_status_too_early")

    def row(event_pk) -> str:
        return f"#result_list tr:has(input.action-select[value='{event_pk}'])"

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/admin/integrations/inboundevent/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    refused = page.locator(row(status_event.pk))
    expect(refused.locator("td.field-action")).to_have_text("Status update")
    expect(refused.locator("td.field-outcome")).to_have_text(
        "Rejected (invalid input or transition)"
    )
    expect(refused.locator("td.field-response_status")).to_have_text("404")
    expect(refused.locator("td.field-order_link")).to_have_text("-")

    run_action(page, "reprocess", str(status_event.pk))

    expect(page.locator(".messagelist .success")).to_have_text(
        "Re-processed msg_status_too_early: 200 Status applied"
    )
    expect(rows).to_have_count(3)
    reprocessed = InboundEvent.objects.get(kind=InboundEvent.Kind.REPROCESS)
    assert reprocessed.original == status_event
    new_row = page.locator(row(reprocessed.pk))
    expect(new_row.locator("td.field-kind")).to_have_text("Re-processed by staff")
    expect(new_row.locator("td.field-outcome")).to_have_text("Status applied")
    expect(new_row.locator("td.field-response_status")).to_have_text("200")
    # The stored request is an audit record: its own row still says what happened then.
    expect(refused.locator("td.field-outcome")).to_have_text(
        "Rejected (invalid input or transition)"
    )

    new_row.locator(f"td.field-order_link a:text-is('{order.order_number}')").click()
    expect(page.locator("#content > h2")).to_have_text(order.order_number)
    expect(page.locator(".field-current_status .readonly")).to_have_text(
        "Approved — next: in_progress, cancelled"
    )
    applied = page.locator("#status_history-group tr.has_original").last
    expect(applied.locator("td.field-to_status")).to_have_text("Approved")
    expect(applied.locator("td.field-source")).to_have_text("Partner")
    expect(applied.locator("td.field-integration_name")).to_have_text("volvo_dealer_api")
    expect(applied.locator("td.field-note")).to_have_text("Partner status CONFIRMED.")

    order.refresh_from_db()
    assert order.status == OrderStatus.APPROVED
