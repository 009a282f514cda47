"""What ops see of the sync in the admin: runs, the drift report, feed mappings with Preview
mapping, Sync now, and the sync panel of an integration's page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import FeedMapping, OrderDrift, SyncRun, SyncTrigger
from integrations.sync.run import sync_run
from orders.services import order_change_status
from tests.factories import PartnerIntegrationFactory
from tests.integrations.conftest import order_payload, status_payload
from tests.integrations.sync.conftest import sandbox_integration
from tests.integrations.sync.test_sync_pull import feed, record

pytestmark = pytest.mark.django_db

RUNS_URL = reverse("admin:integrations_syncrun_changelist")
DRIFT_URL = reverse("admin:integrations_orderdrift_changelist")
MAPPING_ADD_URL = reverse("admin:integrations_feedmapping_add")
INTEGRATIONS_URL = reverse("admin:integrations_partnerintegration_changelist")


def drifted(httpserver, integration, pid="VLV-1"):
    feed(httpserver, [record(pid, "RECEIVED", "2025-06-01T10:00:00Z", customer_name="Jan")])
    sync_run(integration=integration, trigger=SyncTrigger.MANUAL)
    feed(httpserver, [record(pid, "DELIVERED", "2025-06-01T12:00:00Z")])
    return sync_run(integration=integration, trigger=SyncTrigger.MANUAL).run


def test_sync_runs_are_listed_filterable_and_read_only(
    admin_client, httpserver, feed_integration, django_assert_max_num_queries
):
    drifted(httpserver, feed_integration)
    for _ in range(20):
        SyncRun.objects.create(integration=PartnerIntegrationFactory(), trigger="beat")

    with django_assert_max_num_queries(12):
        response = admin_client.get(RUNS_URL, {"status": "succeeded"})

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    content = response.content.decode()
    assert feed_integration.integration_name in content
    assert response.context["has_add_permission"] is False
    run = SyncRun.objects.filter(integration=feed_integration).first()
    detail = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert "HTTP requests to the partner" in detail.content.decode()
    assert f"{httpserver.url_for('/v1/orders')}" in detail.content.decode()
    assert (
        admin_client.post(
            reverse("admin:integrations_syncrun_change", args=[run.pk]), {}
        ).status_code
        == 403
    )


def test_a_run_page_lists_the_skipped_records_with_their_reasons(
    admin_client, httpserver, feed_integration
):
    feed(httpserver, [record("VLV-1", "SHIPPED", customer_name="Jan")])
    run = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL).run

    page = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk]))

    assert "Unknown status &#x27;SHIPPED&#x27;" in page.content.decode()


def test_the_drift_report_lists_orders_in_drift_with_both_statuses_and_counts_them(
    admin_client, httpserver, feed_integration
):
    drifted(httpserver, feed_integration)

    response = admin_client.get(DRIFT_URL)

    rows = response.context["cl"].result_list
    assert [(d.partner_status, d.partner_chargecars_status, d.order.status) for d in rows] == [
        ("DELIVERED", "completed", "new")
    ]
    assert response.context["drift_per_integration"] == [
        (feed_integration.integration_name, feed_integration.pk, 1)
    ]
    assert f"{feed_integration.integration_name}</a> (1)" in response.content.decode()
    filtered = admin_client.get(DRIFT_URL, {"integration__id__exact": feed_integration.pk})
    assert len(filtered.context["cl"].result_list) == 1


def test_an_order_leaves_the_drift_report_once_it_reaches_the_partners_status(
    admin_client, httpserver, feed_integration
):
    drifted(httpserver, feed_integration)
    order = OrderDrift.objects.get().order
    for status in ("approved", "in_progress", "completed"):
        order_change_status(order=order, to_status=status, source="staff")

    assert list(admin_client.get(DRIFT_URL).context["cl"].result_list) == []


def test_a_status_update_the_partner_api_refuses_is_drift_too(partner, integration):
    partner.create(order_payload(partner_order_id="VLV-1"))

    response = partner.status("VLV-1", status_payload("DELIVERED"))

    assert response.status_code == 409
    drift = OrderDrift.objects.get()
    assert (drift.partner_status, drift.source, drift.order.status) == ("DELIVERED", "api", "new")
    # A later accepted status supersedes it.
    partner.status("VLV-1", status_payload("CONFIRMED", "2025-06-01T11:00:00Z"))
    assert not OrderDrift.objects.filter(
        pk=drift.pk, order__partner_status_occurred_at__lte=drift.reported_at
    ).exists()


def test_a_feed_mapping_is_validated_when_saved(admin_client, feed_integration):
    response = admin_client.post(
        MAPPING_ADD_URL,
        {
            "integration": feed_integration.pk,
            "path": "https://elsewhere.example/orders",
            "paging": "cursor",
            "page_size": 900,
            "updated_since_param": "since",
            "limit_param": "since",
            "cursor_param": "cursor",
            "page_param": "page",
            "time_format": "rfc3339",
            "extra_query": '{"since": "x"}',
            "items_key": "data..items",
            "next_cursor_key": "next",
            "field_mapping": '{"status": "state", "colour": "x"}',
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "no scheme, host" in errors["path"][0]
    assert errors["page_size"] == ["Ask between 1 and 500 records per page."]
    assert errors["extra_query"] == ["'since' is set by the sync itself; remove it here."]
    assert "is not a dotted path" in errors["items_key"][0]
    assert errors["field_mapping"][0].startswith("Unknown field(s) colour.")
    assert errors["field_mapping"][1] == (
        "Map partner_order_id, updated_at: every record needs them."
    )
    assert "The query parameter names must differ" in errors["__all__"][0]
    assert not FeedMapping.objects.exists()


def test_preview_mapping_shows_the_fields_a_sample_becomes_and_every_error(
    admin_client, feed_integration
):
    form = {
        "integration": feed_integration.pk,
        "path": "orders",
        "paging": "cursor",
        "page_size": 100,
        "updated_since_param": "updated_since",
        "limit_param": "limit",
        "cursor_param": "cursor",
        "page_param": "page",
        "time_format": "rfc3339",
        "extra_query": "",
        "items_key": "orders",
        "next_cursor_key": "next_cursor",
        "field_mapping": '{"partner_order_id": "id", "status": "state.code", '
        '"updated_at": "modified", "customer_name": "customer.name", '
        '"customer_email": "customer.email"}',
        "_preview": "Preview mapping",
    }
    good = '{"id": "ORD-1", "state": {"code": "CONFIRMED"}, "modified": "2025-06-01T10:30:00Z", "customer": {"name": "Jan"}}'  # noqa: E501
    bad = (
        '{"id": "ORD-2", "state": {"code": "LOST"}, "modified": "soon", "customer": {"email": "x"}}'
    )

    response = admin_client.post(MAPPING_ADD_URL, {**form, "sample_record": f"[{good}, {bad}]"})

    assert response.status_code == 200
    preview = response.context["preview"]
    first, second = preview.records
    assert ("customer_name", "customer.name", "Jan") in first.fields
    assert first.errors == []
    assert first.becomes.startswith("Order ORD-1, partner status CONFIRMED (ours: approved)")
    assert "Unknown status 'LOST'" in second.errors[0]
    assert "updated_at must be an RFC 3339 time" in second.errors[0]
    assert not FeedMapping.objects.exists()  # a preview saves nothing
    assert "Preview: what the sample becomes" in response.content.decode()

    form.pop("_preview")
    saved = admin_client.post(MAPPING_ADD_URL, {**form, "sample_record": good})
    assert saved.status_code == 302
    assert FeedMapping.objects.get().field_mapping["status"] == "state.code"


def test_sync_now_from_the_list_and_the_button_queue_a_manual_sync(
    admin_client, start_sandbox, eager_celery, admin_user
):
    sandbox = start_sandbox(orders=3)
    integration = sandbox_integration(sandbox)
    paused = PartnerIntegrationFactory(sync_enabled=False)

    response = admin_client.post(
        INTEGRATIONS_URL,
        {"action": "sync_integrations_now", "_selected_action": [integration.pk, paused.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert f"Sync of {integration} started; its run appears under Sync runs." in messages
    assert any("is paused (sync_enabled is off)" in m for m in messages)
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.started_by) == ("manual", "succeeded", admin_user)

    change_url = reverse("admin:integrations_partnerintegration_change", args=[integration.pk])
    page = admin_client.get(change_url).content.decode()
    assert 'id="sync-now"' in page
    assert "3 pulled, 3 created" in page  # the latest runs on the integration's page
    button = reverse("admin:integrations_partnerintegration_sync_now", args=[integration.pk])
    assert admin_client.get(button).status_code == 405
    after = admin_client.post(button, follow=True)
    assert after.redirect_chain[-1][0] == change_url
    assert SyncRun.objects.count() == 2


def test_the_integration_page_says_when_sync_is_paused_and_how_many_webhooks_wait(
    admin_client, webhook_integration
):
    from orders.services import order_create

    webhook_integration.sync_enabled = False
    webhook_integration.save()
    order_create(
        source="partner",
        integration=webhook_integration,
        customer_name="Jan",
        partner_external_references={"partner_order_id": "VLV-1"},
    )

    page = admin_client.get(
        reverse("admin:integrations_partnerintegration_change", args=[webhook_integration.pk])
    ).content.decode()

    assert "<b>Paused</b> (sync_enabled is off): no syncs; 1 webhook deliveries queued" in page


def test_stale_means_sync_enabled_and_no_successful_sync_for_two_periods(admin_client, settings):
    settings.SYNC_REAL_TIME_RECONCILE_SECONDS = 900
    now = timezone.now()
    stale_hourly = PartnerIntegrationFactory(
        sync_frequency="hourly", last_sync_at=now - timedelta(hours=2, minutes=1)
    )
    PartnerIntegrationFactory(sync_frequency="hourly", last_sync_at=now - timedelta(minutes=90))
    stale_real_time = PartnerIntegrationFactory(
        sync_frequency="real_time", last_sync_at=now - timedelta(minutes=31)
    )
    PartnerIntegrationFactory(
        sync_frequency="daily", last_sync_at=now - timedelta(days=3), sync_enabled=False
    )
    never_old = PartnerIntegrationFactory(last_sync_at=None, created_at=now - timedelta(hours=1))
    PartnerIntegrationFactory(last_sync_at=None)  # just created: not stale yet

    response = admin_client.get(INTEGRATIONS_URL, {"health": "stale"})

    assert set(response.context["cl"].queryset) == {stale_hourly, stale_real_time, never_old}
