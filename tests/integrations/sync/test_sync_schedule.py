"""When syncs run: the dispatcher (beat), the lease, catch-up after downtime, pause."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from integrations.models import (
    DeliveryState,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncTrigger,
    WebhookDelivery,
)
from integrations.sync.dispatch import syncs_dispatch
from integrations.sync.lease import sync_lease_claim
from integrations.sync.run import sync_run
from integrations.sync.tasks import integrations_sync_dispatch
from orders.services import order_change_status, order_create
from tests.factories import PartnerIntegrationFactory
from tests.integrations.sync.conftest import sandbox_integration

pytestmark = pytest.mark.django_db


def dispatched() -> list[tuple]:
    queued = []
    syncs_dispatch(enqueue=lambda pk, trigger: queued.append((pk, trigger)))
    return queued


def test_the_dispatcher_queues_what_is_due_per_frequency(settings):
    settings.SYNC_REAL_TIME_RECONCILE_SECONDS = 900
    now = timezone.now()
    never = PartnerIntegrationFactory(sync_frequency="daily", last_sync_at=None)
    quarter_due = PartnerIntegrationFactory(
        sync_frequency="every_15_minutes", last_sync_at=now - timedelta(minutes=16)
    )
    PartnerIntegrationFactory(sync_frequency="hourly", last_sync_at=now - timedelta(minutes=30))
    real_time_due = PartnerIntegrationFactory(
        sync_frequency="real_time", last_sync_at=now - timedelta(seconds=901)
    )
    PartnerIntegrationFactory(sync_frequency="real_time", last_sync_at=now - timedelta(minutes=5))
    PartnerIntegrationFactory(sync_enabled=False, last_sync_at=None)
    PartnerIntegrationFactory(is_active=False, last_sync_at=None)
    catching_up = PartnerIntegrationFactory(
        sync_frequency="hourly", last_sync_at=now - timedelta(hours=30)
    )

    queued = dict(dispatched())

    assert queued == {
        never.pk: SyncTrigger.BEAT,
        quarter_due.pk: SyncTrigger.BEAT,
        real_time_due.pk: SyncTrigger.BEAT,
        catching_up.pk: SyncTrigger.CATCH_UP,  # one sync, not 30
    }


def test_after_downtime_one_catch_up_sync_runs_then_the_integration_is_on_schedule(
    start_sandbox, eager_celery
):
    sandbox = start_sandbox(orders=2)
    integration = sandbox_integration(sandbox)
    integration.last_sync_at = timezone.now() - timedelta(days=3)
    integration.save()

    integrations_sync_dispatch()
    integrations_sync_dispatch()

    runs = SyncRun.objects.filter(integration=integration)
    assert list(runs.values_list("trigger", "status")) == [("catch_up", "succeeded")]


def test_a_failed_integration_is_not_retried_before_its_backoff(feed_integration):
    SyncState.objects.create(
        integration=feed_integration,
        consecutive_failures=2,
        not_before=timezone.now() + timedelta(minutes=2),
    )

    assert dispatched() == []
    SyncState.objects.filter(pk=feed_integration.pk).update(not_before=timezone.now())
    assert dispatched() == [(feed_integration.pk, SyncTrigger.BEAT)]


def test_a_held_lease_blocks_every_other_claim_until_it_expires(feed_integration, settings):
    lease = sync_lease_claim(integration=feed_integration, trigger="manual", scheduled=False)
    assert lease is not None

    assert sync_lease_claim(integration=feed_integration, trigger="beat", scheduled=True) is None
    assert dispatched() == []
    attempt = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL)
    assert attempt.run is None
    assert (
        attempt.refused == f"No sync of {feed_integration} started: another sync of it is running."
    )

    SyncState.objects.filter(pk=feed_integration.pk).update(
        leased_until=timezone.now() - timedelta(seconds=1)
    )
    assert dispatched() == [(feed_integration.pk, SyncTrigger.BEAT)]
    # The dispatcher closed the abandoned run.
    abandoned = SyncRun.objects.get(pk=lease.run.pk)
    assert abandoned.status == SyncRunStatus.FAILED
    assert abandoned.error.startswith("The sync stopped before it finished")


def test_a_scheduled_sync_that_is_no_longer_due_does_not_run(start_sandbox):
    sandbox = start_sandbox(orders=1)
    integration = sandbox_integration(sandbox)
    sync_run(integration=integration, trigger=SyncTrigger.BEAT)

    again = sync_run(integration=integration, trigger=SyncTrigger.BEAT)

    assert again.run is None
    assert SyncRun.objects.count() == 1


def test_paused_integrations_do_not_sync_and_sync_now_says_why(feed_integration):
    feed_integration.sync_enabled = False
    feed_integration.save()

    assert dispatched() == []
    attempt = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL)
    assert attempt.run is None
    assert "is paused (sync_enabled is off)" in attempt.refused
    with pytest.raises(CommandError, match="is paused"):
        call_command("sync_integration", feed_integration.integration_name)


def test_pause_keeps_webhooks_queued_and_sends_them_in_order_when_switched_on(
    httpserver, webhook_integration, received, eager_celery
):
    from integrations.outbound.tasks import webhook_deliveries_dispatch

    httpserver.expect_request("/webhooks/chargecars", method="POST").respond_with_handler(
        lambda request: received.requests.append(request) or ""
    )
    webhook_integration.sync_enabled = False
    webhook_integration.save()
    order = order_create(
        source="partner",
        integration=webhook_integration,
        customer_name="Jan",
        partner_external_references={"partner_order_id": "VLV-1"},
    )
    order_change_status(order=order, to_status="approved", source="staff")
    order_change_status(order=order, to_status="in_progress", source="staff")
    webhook_deliveries_dispatch()

    assert received.requests == []
    pending = WebhookDelivery.objects.filter(order=order, state=DeliveryState.PENDING)
    assert pending.count() == 3  # kept, not dropped

    webhook_integration.sync_enabled = True
    webhook_integration.save()
    webhook_deliveries_dispatch()

    events = [body["type"] for body in received.bodies]
    assert events == ["order_created", "order_approved", "installation_started"]
    assert [body["data"]["sequence"] for body in received.bodies] == [1, 2, 3]


def test_the_partner_api_still_works_while_sync_is_paused(partner, integration):
    from tests.integrations.conftest import order_payload

    integration.sync_enabled = False
    integration.save()

    assert partner.create(order_payload()).status_code == 201


def test_a_non_real_time_sync_pushes_the_deliveries_that_waited_for_its_slot(
    start_sandbox, eager_celery
):
    sandbox = start_sandbox(orders=0)
    integration = sandbox_integration(
        sandbox, sync_frequency="daily", webhook_events=["order_created"]
    )
    order_create(
        source="staff",
        integration=integration,
        customer_name="Jan",
        partner_external_references={"partner_order_id": "SBX-X"},
    )
    waiting = WebhookDelivery.objects.get(integration=integration)
    assert waiting.next_attempt_at > timezone.now()

    run = sync_run(integration=integration, trigger=SyncTrigger.MANUAL).run

    assert run.deliveries_pushed == 1
    waiting.refresh_from_db()
    assert waiting.next_attempt_at <= timezone.now()


def test_an_integration_without_api_base_url_only_pushes(feed_integration):
    feed_integration.api_base_url = None
    feed_integration.sync_frequency = "daily"
    feed_integration.save()

    run = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL).run

    assert run.status == SyncRunStatus.SUCCEEDED
    assert run.http_requests == 0


def test_sync_integration_prints_the_summary_and_fails_with_a_non_zero_exit(
    httpserver, feed_integration, capsys
):
    httpserver.expect_request("/v1/orders").respond_with_json(
        {
            "orders": [
                {
                    "partner_order_id": "VLV-1",
                    "status": "CONFIRMED",
                    "customer_name": "Jan",
                    "updated_at": "2025-06-01T10:30:00Z",
                },
                {
                    "partner_order_id": "VLV-2",
                    "status": "NOPE",
                    "customer_name": "Piet",
                    "updated_at": "2025-06-01T10:30:00Z",
                },
            ],
            "next_cursor": None,
        }
    )
    call_command("sync_integration", feed_integration.integration_name)
    out = capsys.readouterr().out
    assert f"Sync of {feed_integration} succeeded in " in out
    assert (
        "1 pages, 2 pulled, 1 created, 0 updated, 0 unchanged, 0 stale, 1 skipped, 0 drift" in out
    )
    assert "skipped VLV-2: Unknown status 'NOPE'" in out

    httpserver.clear()
    httpserver.expect_request("/v1/orders").respond_with_data("nope", status=404)
    with pytest.raises(CommandError, match=f"The sync of {feed_integration} failed."):
        call_command("sync_integration", feed_integration.integration_name)
    assert "answered 404: nope" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No integration named 'missing'"):
        call_command("sync_integration", "missing")
