import io
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.utils import timezone
from werkzeug import Response

from integrations import retention, tasks
from integrations.models import DeliveryAttempt, InboundEvent, WebhookDelivery
from integrations.retention import records_prune
from orders.services import order_create
from tests.integrations.conftest import order_payload, status_payload

pytestmark = pytest.mark.django_db

Outcome = InboundEvent.Outcome


def age(queryset, days: int, field: str) -> None:
    queryset.update(**{field: timezone.now() - timedelta(days=days)})


def test_old_events_that_changed_nothing_go_and_those_that_changed_an_order_stay(partner):
    created = partner.create(order_payload(), msg_id="msg_create")
    partner.create(order_payload(), msg_id="msg_create")  # replayed: a duplicate row
    partner.create(order_payload())  # same order again: existing, changed nothing
    partner.get("VLV-2025-789123")
    partner.status("VLV-2025-789123", status_payload("NOT_A_STATUS"))  # rejected
    partner.status("VLV-2025-789123", status_payload("CONFIRMED"))  # applied
    assert created.status_code == 201
    age(InboundEvent.objects.all(), 91, "received_at")
    partner.get("VLV-2025-789123")  # recent: kept whatever it is

    pruned = records_prune()

    assert pruned.inbound_events == 4
    kept = sorted(InboundEvent.objects.values_list("outcome", flat=True))
    assert kept == sorted([Outcome.CREATED, Outcome.APPLIED, Outcome.READ])
    # The order's history still says which requests changed it.
    order_history = InboundEvent.objects.filter(status_changes__isnull=False).distinct()
    assert order_history.count() == 2


def test_events_are_kept_forever_when_retention_is_zero(partner, settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 0
    partner.get("NO-SUCH-ORDER")
    age(InboundEvent.objects.all(), 3650, "received_at")

    assert records_prune().inbound_events == 0
    assert InboundEvent.objects.count() == 1


def test_old_attempts_of_finished_deliveries_go_and_deliveries_stay(
    settings, httpserver, webhook_integration, django_capture_on_commit_callbacks, eager_celery
):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 3600]
    answers = [Response("ok"), Response("down", status=503)]
    httpserver.expect_request("/webhooks/chargecars").respond_with_handler(
        lambda request: answers.pop(0)
    )
    for name in ("A", "B"):
        with django_capture_on_commit_callbacks(execute=True):
            order_create(source="staff", integration=webhook_integration, customer_name=name)
    succeeded, retrying = WebhookDelivery.objects.order_by("created_at")
    assert (succeeded.state, retrying.state) == ("succeeded", "pending")  # retried in an hour
    age(DeliveryAttempt.objects.all(), 91, "attempted_at")
    out = io.StringIO()

    call_command("prune_records", stdout=out)

    assert list(DeliveryAttempt.objects.values_list("delivery_id", flat=True)) == [retrying.pk]
    assert WebhookDelivery.objects.count() == 2
    assert "1 delivery attempt(s) older than 90 days" in out.getvalue()


def test_prune_records_says_what_it_kept_when_retention_is_zero(settings):
    # It printed "Deleted 0 inbound event(s) older than (never) days".
    settings.INBOUND_EVENT_RETENTION_DAYS = 0
    out = io.StringIO()

    call_command("prune_records", stdout=out)

    assert "(never)" not in out.getvalue()
    assert "Kept every inbound event (INBOUND_EVENT_RETENTION_DAYS=0)" in out.getvalue()
    assert "0 delivery attempt(s) older than 90 days" in out.getvalue()


def test_the_nightly_prune_has_an_hour_and_stops_quietly_at_its_limit(partner, monkeypatch, caplog):
    # A large backlog must not fail the task at the 120 s limit of ordinary tasks; what
    # was deleted stays deleted and the next night goes on.
    partner.get("NO-SUCH-ORDER")
    age(InboundEvent.objects.all(), 91, "received_at")
    stop_after_first_batch = iter([None])

    def delete_then_run_out_of_time(queryset, batch_size):
        if next(stop_after_first_batch, "late") == "late":
            raise SoftTimeLimitExceeded()
        queryset.model.objects.filter(pk__in=list(queryset.values_list("pk", flat=True))).delete()
        return 1

    monkeypatch.setattr(retention, "_delete_in_batches", delete_then_run_out_of_time)

    tasks.records_prune()

    assert tasks.records_prune.soft_time_limit == 3300
    assert tasks.records_prune.time_limit == 3600
    assert InboundEvent.objects.count() == 0
    assert "Pruning stopped at its time limit (3300 s)" in caplog.text
