"""Outbound webhooks against a real partner server on 127.0.0.1 (pytest-httpserver)."""

import logging
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone
from werkzeug import Response

from integrations.models import (
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    PartnerIntegration,
    RetiredWebhookSecret,
    WebhookDelivery,
)
from integrations.outbound.actions import (
    deliveries_replay_failed,
    delivery_cancel,
    delivery_replay,
    delivery_send_test,
)
from integrations.outbound.claim import deliveries_claim_due, deliveries_release
from integrations.outbound.dispatch import deliveries_dispatch
from integrations.outbound.drain import deliveries_drain
from integrations.outbound.enqueue import deliveries_push_for_integration, next_sync_slot
from integrations.outbound.holds import deliveries_resume
from integrations.outbound.retry import retry_after_seconds
from integrations.outbound.send import deliveries_send_claimed
from integrations.outbound.success_rate import integration_success_rate
from integrations.secrets import generate_webhook_secret
from orders.services import order_change_status, order_create
from tests.factories import PartnerIntegrationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

HOOK = "/webhooks/chargecars"


def serve(httpserver, received, responses=None):
    """The partner: records each request and answers from ``responses`` (then 200)."""
    script = list(responses or [])

    def handler(request):
        received.requests.append(request)
        answer = script.pop(0) if script else Response("ok", status=200)
        if not isinstance(answer, Response):
            return answer(request)
        return answer

    httpserver.expect_request(HOOK, method="POST").respond_with_handler(handler)


def create_order(integration, capture, partner_order_id="VLV-2025-789123", **fields):
    with capture(execute=True):
        return order_create(
            source="partner",
            integration=integration,
            customer_name="Jan de Vries",
            partner_external_references={"partner_order_id": partner_order_id},
            **fields,
        )


def change(order, to_status, capture):
    with capture(execute=True):
        return order_change_status(order=order, to_status=to_status, source="staff")


def dispatch_now():
    return deliveries_dispatch(
        enqueue_batch=lambda token: deliveries_send_claimed(token=token),
        enqueue_drain=lambda integration_id: deliveries_drain(integration_id=integration_id),
    )


def due_delivery(integration, **fields) -> WebhookDelivery:
    """A delivery written straight into the outbox, due now."""
    return WebhookDelivery.objects.create(
        integration=integration,
        event="order_created",
        payload={},
        next_attempt_at=fields.pop("next_attempt_at", timezone.now()),
        **fields,
    )


def make_due(delivery_qs=None):
    (delivery_qs or WebhookDelivery.objects.all()).filter(state=DeliveryState.PENDING).update(
        next_attempt_at=timezone.now()
    )


# --- Signature, payload, sequence ---------------------------------------------------------


def test_order_created_is_delivered_signed_with_the_partner_status(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)

    order = create_order(webhook_integration, django_capture_on_commit_callbacks)

    [message] = received.verified(webhook_integration.webhook_secret)
    delivery = WebhookDelivery.objects.get()
    assert message["headers"]["webhook-id"] == str(delivery.pk)
    assert message["headers"]["content-type"] == "application/json"
    payload = message["payload"]
    assert payload["type"] == "order_created"
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["data"] == {
        "order_id": str(order.pk),
        "order_number": order.order_number,
        "sequence": 1,
        "status": "RECEIVED",
        "chargecars_status": "new",
        "previous_status": None,
        "previous_chargecars_status": None,
        "partner_external_references": {"partner_order_id": "VLV-2025-789123"},
        "source": "partner",
    }
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.attempts == 1
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 200
    assert attempt.succeeded
    assert attempt.response_excerpt == "ok"


def test_each_status_change_is_translated_and_numbered_in_sequence(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks)

    change(order, "approved", django_capture_on_commit_callbacks)
    change(order, "in_progress", django_capture_on_commit_callbacks)
    change(order, "completed", django_capture_on_commit_callbacks)

    data = [body["data"] for body in received.bodies]
    assert [d["sequence"] for d in data] == [1, 2, 3, 4]
    assert [d["status"] for d in data] == ["RECEIVED", "CONFIRMED", "IN_PROGRESS", "DELIVERED"]
    assert [b["type"] for b in received.bodies] == [
        "order_created",
        "order_approved",
        "installation_started",
        "installation_completed",
    ]
    assert data[1]["previous_status"] == "RECEIVED"
    assert len(set(received.ids)) == 4


def test_unmapped_status_is_sent_in_chargecars_vocabulary(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks)

    change(order, "cancelled", django_capture_on_commit_callbacks)

    assert received.bodies[-1]["data"]["status"] == "cancelled"


def test_events_the_integration_does_not_subscribe_to_are_not_sent(
    httpserver, received, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    integration = PartnerIntegrationFactory(
        webhook_url=httpserver.url_for(HOOK), webhook_events=["order_approved"]
    )

    order = create_order(integration, django_capture_on_commit_callbacks)
    change(order, "approved", django_capture_on_commit_callbacks)

    assert [b["type"] for b in received.bodies] == ["order_approved"]
    assert received.bodies[0]["data"]["sequence"] == 1


def test_orders_of_inactive_integrations_or_without_integration_send_nothing(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    PartnerIntegration.objects.filter(pk=webhook_integration.pk).update(is_active=False)
    webhook_integration.refresh_from_db()

    create_order(webhook_integration, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        order_create(source="staff", customer_name="Walk-in")

    assert WebhookDelivery.objects.count() == 0
    assert received.requests == []


def test_a_rolled_back_change_sends_nothing(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                order_change_status(order=order, to_status="approved", source="staff")
                raise RuntimeError("something later in the same transaction failed")
        except RuntimeError:
            pass

    assert callbacks == []
    assert WebhookDelivery.objects.filter(event="order_approved").count() == 0
    assert [b["type"] for b in received.bodies] == ["order_created"]


def test_both_signatures_are_sent_during_a_secret_rotation_grace_period(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    old_secret = webhook_integration.webhook_secret
    webhook_integration.webhook_secret = generate_webhook_secret()
    webhook_integration.save()
    RetiredWebhookSecret.objects.create(
        integration=webhook_integration,
        secret=old_secret,
        valid_until=timezone.now() + timedelta(hours=24),
    )

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    assert len(received.requests[0].headers["webhook-signature"].split(" ")) == 2
    received.verified(webhook_integration.webhook_secret)  # a partner on the new secret
    received.verified(old_secret)  # and one still on the old secret


# --- Retry classes ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_answers_schedule_the_next_attempt(
    status, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("busy", status=status)])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.last_status_code == status
    assert delivery.schedule_position == 1
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 4 <= wait <= 6  # the second entry of the default schedule: 5 s


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 301])
def test_other_client_errors_fail_at_once(
    status, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("no", status=status)])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.next_attempt_at is None
    assert DeliveryAttempt.objects.get().response_excerpt == "no"


def test_a_timeout_is_retried(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_READ_TIMEOUT = 0.3
    serve(httpserver, received, [lambda request: time.sleep(1) or Response("late")])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert attempt.error_class == "timeout"
    assert attempt.status_code is None
    assert attempt.duration_ms >= 250


def test_a_connection_error_is_retried(
    webhook_integration, unused_tcp_port, django_capture_on_commit_callbacks
):
    webhook_integration.webhook_url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    webhook_integration.save()

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert DeliveryAttempt.objects.get().error_class == "connection_error"


class RawPartner:
    """A partner written on a bare socket, for answers no HTTP server library sends: it
    reads one request, then writes ``head`` and the ``body`` parts (``pause`` seconds
    apart) and hangs up."""

    def __init__(self, head: bytes, body: list[bytes], pause: float = 0.0):
        self.head, self.body, self.pause = head, body, pause
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.requests = 0
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            try:
                conn.sendall(self.head)
                for part in self.body:
                    time.sleep(self.pause)
                    conn.sendall(part)
            except OSError:
                pass  # we hung up on it

    def close(self):
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def raw_partner(webhook_integration):
    partners = []

    def start(head: bytes, body: list[bytes], pause: float = 0.0) -> RawPartner:
        partner = RawPartner(head, body, pause)
        partners.append(partner)
        webhook_integration.webhook_url = partner.url
        webhook_integration.save()
        return partner

    yield start
    for partner in partners:
        partner.close()


def test_a_2xx_whose_body_is_cut_off_is_delivered_and_the_cut_is_noted(
    raw_partner, webhook_integration, django_capture_on_commit_callbacks
):
    raw_partner(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", [b"accepted"])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.last_status_code == 200
    assert attempt.succeeded
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "accepted"
    assert "connection broke while the response body was read" in attempt.error_message


def test_a_5xx_whose_body_is_cut_off_is_retried(
    raw_partner, webhook_integration, django_capture_on_commit_callbacks
):
    raw_partner(
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n",
        [b"4\r\nbusy\r\n"],
    )

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.schedule_position == 1
    assert delivery.last_status_code == 503
    assert delivery.last_error.startswith("HTTP 503: the connection broke")
    assert attempt.status_code == 503
    assert attempt.response_excerpt == "busy"


def test_a_partner_trickling_its_body_is_cut_off_after_connect_plus_read_timeout(
    settings, raw_partner, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_CONNECT_TIMEOUT = 0.2
    settings.WEBHOOK_READ_TIMEOUT = 0.5  # each byte arrives well within it
    raw_partner(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", [b"o"] * 100, pause=0.05)

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert attempt.status_code == 200
    assert attempt.duration_ms < 2000  # not the 5 s the partner takes to send it all
    assert attempt.response_excerpt.startswith("ooo")
    assert "sent its response body too slowly" in attempt.error_message


def test_a_connection_closed_before_any_answer_is_retried(
    raw_partner, webhook_integration, django_capture_on_commit_callbacks
):
    raw_partner(b"", [])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert attempt.status_code is None
    assert attempt.error_class == "connection_error"


def test_the_first_entry_of_the_retry_schedule_delays_the_first_attempt(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_SCHEDULE = [60, 5]
    serve(httpserver, received)

    before = timezone.now()
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    dispatch_now()

    delivery = WebhookDelivery.objects.get()
    assert received.requests == []
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at >= before + timedelta(seconds=60)

    make_due()
    dispatch_now()
    assert len(received.requests) == 1


def test_retry_after_is_honoured(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("slow down", status=429, headers={"Retry-After": "120"})])

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 119 <= wait <= 121


def test_retry_after_stops_the_batch_and_delays_the_rest_of_it(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("integrations.outbound.tasks.webhook_delivery_send.delay", lambda pk: None)
    serve(httpserver, received, [Response("slow down", status=429, headers={"Retry-After": "120"})])
    order = create_order(webhook_integration, django_capture_on_commit_callbacks, "A")
    for status in ("approved", "in_progress"):
        change(order, status, django_capture_on_commit_callbacks)

    before = timezone.now()
    dispatch_now()  # one claimed batch of three; the first answer asks for 120 s
    dispatch_now()

    assert len(received.requests) == 1
    deliveries = WebhookDelivery.objects.order_by("sequence")
    assert [d.state for d in deliveries] == [DeliveryState.PENDING] * 3
    assert [d.attempts for d in deliveries] == [1, 0, 0]
    assert all(d.next_attempt_at >= before + timedelta(seconds=119) for d in deliveries)
    assert not deliveries.filter(claim_token__isnull=False).exists()


def test_retry_after_also_delays_deliveries_written_after_it(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    # README: Retry-After is honoured by the whole integration. An order change right after
    # the partner's 429 used to be sent on commit all the same.
    serve(httpserver, received, [Response("slow down", status=429, headers={"Retry-After": "120"})])
    create_order(webhook_integration, django_capture_on_commit_callbacks, "A")
    before = timezone.now()

    create_order(webhook_integration, django_capture_on_commit_callbacks, "B")
    dispatch_now()

    assert len(received.requests) == 1
    later = WebhookDelivery.objects.get(order__partner_external_references__partner_order_id="B")
    assert (later.state, later.attempts) == (DeliveryState.PENDING, 0)
    assert later.claim_token is None
    assert later.next_attempt_at >= before + timedelta(seconds=115)

    # Once the wait is over, both go out.
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    DeliveryHold.objects.update(next_probe_at=timezone.now())
    dispatch_now()

    assert len(received.requests) == 3
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    # The partner took them: the hold shows no wait and no failures any more.
    hold = DeliveryHold.objects.get(integration=webhook_integration)
    assert (hold.state, hold.consecutive_failures, hold.next_probe_at) == ("open", 0, None)


def test_a_probe_of_a_held_integration_waits_for_retry_after(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_HOLD_AFTER_FAILURES = 1
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 5, 10, 10]
    busy = Response("busy", status=503, headers={"Retry-After": "600"})
    serve(httpserver, received, [busy, busy])

    before = timezone.now()
    create_order(webhook_integration, django_capture_on_commit_callbacks)  # holds

    hold = DeliveryHold.objects.get(integration=webhook_integration)
    assert hold.state == DeliveryHoldState.HELD
    assert hold.next_probe_at >= before + timedelta(seconds=599)

    DeliveryHold.objects.update(next_probe_at=timezone.now())
    before = timezone.now()
    dispatch_now()  # the probe: still busy, and it says so

    hold.refresh_from_db()
    assert len(received.requests) == 2
    assert hold.probes == 1
    assert hold.next_probe_at >= before + timedelta(seconds=599)


def test_retry_after_as_an_http_date_is_understood():
    now = timezone.now()
    header = (now + timedelta(seconds=600)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert 590 <= retry_after_seconds(header, now=now) <= 601
    assert retry_after_seconds("nonsense", now=now) is None


def test_a_delivery_fails_after_the_last_scheduled_attempt(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    serve(httpserver, received, [Response("down", status=503)] * 3)
    create_order(webhook_integration, django_capture_on_commit_callbacks)

    dispatch_now()
    dispatch_now()

    delivery = WebhookDelivery.objects.get()
    assert len(received.requests) == 3
    assert len(set(received.ids)) == 1  # the same webhook-id every time
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == 3


def test_410_gone_holds_the_integrations_deliveries_and_flags_it(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, caplog
):
    serve(httpserver, received, [Response("gone", status=410)])

    with caplog.at_level(logging.ERROR, logger="integrations.outbound.holds"):
        order = create_order(webhook_integration, django_capture_on_commit_callbacks)
        change(order, "approved", django_capture_on_commit_callbacks)

    hold = DeliveryHold.objects.get(integration=webhook_integration)
    assert hold.state == DeliveryHoldState.HELD
    assert hold.manual_resume_required
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.HELD}
    assert len(received.requests) == 1  # the second one was written held, not sent
    webhook_integration.refresh_from_db()
    assert "410" in webhook_integration.last_error_message
    assert "held" in caplog.text

    dispatch_now()  # no automatic probing after a 410
    assert len(received.requests) == 1

    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resume(integration=webhook_integration)

    assert [b["data"]["sequence"] for b in received.bodies] == [1, 1, 2]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}
    hold.refresh_from_db()
    assert hold.state == DeliveryHoldState.OPEN


def test_after_410_gone_the_rest_of_the_batch_is_held_and_not_sent(
    httpserver, received, django_capture_on_commit_callbacks
):
    integration = PartnerIntegrationFactory(
        webhook_url=httpserver.url_for(HOOK),
        webhook_events=["order_created"],
        sync_frequency="hourly",
    )
    serve(httpserver, received, [Response("gone", status=410)] * 5)
    for number in range(5):
        create_order(integration, django_capture_on_commit_callbacks, f"VLV-{number}")
    make_due()

    dispatch_now()

    assert len(received.requests) == 1  # the partner said Gone: nothing more is sent
    deliveries = WebhookDelivery.objects.order_by("created_at")
    assert [d.state for d in deliveries] == [DeliveryState.HELD] * 5
    assert [d.attempts for d in deliveries] == [1, 0, 0, 0, 0]
    hold = DeliveryHold.objects.get(integration=integration)
    assert hold.state == DeliveryHoldState.HELD
    assert hold.manual_resume_required


# --- Dispatcher and claiming ----------------------------------------------------------------


def test_a_delivery_whose_broker_message_was_lost_is_sent_by_the_dispatcher(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, monkeypatch
):
    serve(httpserver, received)

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("integrations.outbound.tasks.webhook_delivery_send.delay", broker_down)
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    assert received.requests == []

    assert dispatch_now() == 1

    assert WebhookDelivery.objects.get().state == DeliveryState.SUCCEEDED
    assert len(received.requests) == 1


def test_two_dispatchers_never_claim_the_same_delivery(webhook_integration):
    now = timezone.now()
    for sequence in range(5):
        due_delivery(webhook_integration, next_attempt_at=now, sequence=sequence)

    first = deliveries_claim_due(limit=3)
    second = deliveries_claim_due(limit=3)
    third = deliveries_claim_due(limit=3)

    first_ids = {pk for _, ids in first for pk in ids}
    second_ids = {pk for _, ids in second for pk in ids}
    assert len(first_ids) == 3
    assert len(second_ids) == 2
    assert not first_ids & second_ids
    assert third == []


def test_a_delivery_whose_lease_expired_is_claimed_again(webhook_integration):
    due_delivery(webhook_integration)
    deliveries_claim_due(limit=10)
    assert deliveries_claim_due(limit=10) == []

    expired = timezone.now() - timedelta(seconds=1)  # as if the lease ran out
    assert WebhookDelivery.objects.get().next_attempt_at > timezone.now()
    WebhookDelivery.objects.update(claimed_until=expired, next_attempt_at=expired)

    assert len(deliveries_claim_due(limit=10)) == 1
    lost = DeliveryAttempt.objects.get()  # the try whose worker never reported back
    assert (lost.error_class, lost.succeeded) == ("worker_lost", False)
    assert "may have received it" in lost.error_message
    assert integration_success_rate(integration_id=webhook_integration.pk) is None


def test_a_released_claim_leaves_no_lost_try_in_the_attempt_log(webhook_integration):
    due_delivery(webhook_integration)
    [(token, _)] = deliveries_claim_due(limit=10)
    deliveries_release(token=token)  # a worker that stopped in time gives it back

    assert len(deliveries_claim_due(limit=10)) == 1
    assert not DeliveryAttempt.objects.exists()


def test_the_dispatcher_sends_due_deliveries_in_one_batch_per_integration(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, monkeypatch
):
    serve(httpserver, received)
    monkeypatch.setattr("integrations.outbound.tasks.webhook_delivery_send.delay", lambda pk: None)
    for number in range(3):
        create_order(webhook_integration, django_capture_on_commit_callbacks, f"VLV-{number}")
    tokens = []

    deliveries_dispatch(enqueue_batch=tokens.append, enqueue_drain=lambda pk: None)

    assert len(tokens) == 1
    assert deliveries_send_claimed(token=tokens[0]) == 3
    assert len(received.requests) == 3


# --- Holding and draining ---------------------------------------------------------------------


def test_consecutive_failures_hold_deliveries_which_drain_in_order_on_recovery(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_HOLD_AFTER_FAILURES = 3
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    partner_down = [Response("down", status=503)] * 4
    serve(httpserver, received, partner_down)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks, "A")
    change(order, "approved", django_capture_on_commit_callbacks)
    change(order, "in_progress", django_capture_on_commit_callbacks)

    hold = DeliveryHold.objects.get(integration=webhook_integration)
    assert hold.state == DeliveryHoldState.HELD
    assert hold.consecutive_failures == 3
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.HELD}
    webhook_integration.refresh_from_db()
    assert webhook_integration.last_error_message.startswith("Deliveries held")

    change(order, "completed", django_capture_on_commit_callbacks)  # written held, not sent
    assert len(received.requests) == 3

    dispatch_now()  # the probe: still down
    hold.refresh_from_db()
    assert hold.state == DeliveryHoldState.HELD
    assert hold.probes == 1
    assert len(received.requests) == 4

    DeliveryHold.objects.update(next_probe_at=timezone.now())
    dispatch_now()  # the partner is back: everything held drains, oldest first

    sent = [b["data"]["sequence"] for b in received.bodies]
    assert sent[4:] == [1, 2, 3, 4]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}
    hold.refresh_from_db()
    assert hold.state == DeliveryHoldState.OPEN
    assert hold.consecutive_failures == 0


def test_a_batch_stops_sending_once_the_hold_threshold_is_reached(
    settings,
    httpserver,
    received,
    webhook_integration,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    settings.WEBHOOK_HOLD_AFTER_FAILURES = 3
    monkeypatch.setattr("integrations.outbound.tasks.webhook_delivery_send.delay", lambda pk: None)
    serve(httpserver, received, [Response("down", status=503)] * 10)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks, "A")
    for status in ("approved", "in_progress", "completed"):
        change(order, status, django_capture_on_commit_callbacks)

    dispatch_now()  # one claimed batch of four; the third failure holds the integration

    assert len(received.requests) == 3
    assert DeliveryHold.objects.get().state == DeliveryHoldState.HELD
    deliveries = WebhookDelivery.objects.order_by("sequence")
    assert [d.state for d in deliveries] == [DeliveryState.HELD] * 4
    assert [d.attempts for d in deliveries] == [1, 1, 1, 0]
    assert not deliveries.filter(claim_token__isnull=False).exists()


def test_a_success_resets_the_consecutive_failure_count(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_HOLD_AFTER_FAILURES = 3
    serve(httpserver, received, [Response("down", status=503)] * 2)
    order = create_order(webhook_integration, django_capture_on_commit_callbacks)
    change(order, "approved", django_capture_on_commit_callbacks)
    assert DeliveryHold.objects.get().consecutive_failures == 2

    change(order, "in_progress", django_capture_on_commit_callbacks)

    hold = DeliveryHold.objects.get()
    assert hold.consecutive_failures == 0
    assert hold.state == DeliveryHoldState.OPEN


# --- Non-real-time batching -----------------------------------------------------------------


def test_non_real_time_deliveries_wait_for_the_sync_slot_and_go_out_together(
    httpserver, received, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    integration = PartnerIntegrationFactory(
        webhook_url=httpserver.url_for(HOOK),
        sync_frequency="hourly",
        last_sync_at=timezone.now() - timedelta(minutes=59, seconds=59),
    )
    order = create_order(integration, django_capture_on_commit_callbacks)
    change(order, "approved", django_capture_on_commit_callbacks)

    dispatch_now()
    assert received.requests == []  # nothing before the slot
    slot = integration.last_sync_at + timedelta(hours=1)
    assert set(WebhookDelivery.objects.values_list("next_attempt_at", flat=True)) == {slot}

    time.sleep(max(0.0, (slot - timezone.now()).total_seconds()) + 0.05)
    tokens = []
    deliveries_dispatch(enqueue_batch=tokens.append, enqueue_drain=lambda pk: None)

    assert len(tokens) == 1  # one batch at the slot
    deliveries_send_claimed(token=tokens[0])
    assert [b["type"] for b in received.bodies] == ["order_created", "order_approved"]


def test_the_next_sync_slot_follows_last_sync_at_and_the_period():
    now = timezone.now()
    integration = PartnerIntegration(
        sync_frequency="every_15_minutes", last_sync_at=now - timedelta(minutes=40)
    )

    slot = next_sync_slot(integration=integration, now=now)

    assert slot == now + timedelta(minutes=5)
    integration.sync_frequency = "real_time"
    assert next_sync_slot(integration=integration, now=now) == now


def test_a_sync_can_push_waiting_deliveries_early(
    httpserver, received, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    integration = PartnerIntegrationFactory(
        webhook_url=httpserver.url_for(HOOK), sync_frequency="daily"
    )
    create_order(integration, django_capture_on_commit_callbacks)

    assert deliveries_push_for_integration(integration=integration) == 1
    dispatch_now()

    assert len(received.requests) == 1


# --- Health, secrecy, SSRF ---------------------------------------------------------------------


def test_success_rate_and_last_error_follow_the_outcomes(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("boom", status=500)])

    order = create_order(webhook_integration, django_capture_on_commit_callbacks)
    change(order, "approved", django_capture_on_commit_callbacks)
    change(order, "in_progress", django_capture_on_commit_callbacks)
    change(order, "completed", django_capture_on_commit_callbacks)

    webhook_integration.refresh_from_db()
    assert webhook_integration.success_rate == 75
    assert webhook_integration.last_error_at is not None
    assert webhook_integration.last_error_message == "Webhook delivery failed: HTTP 500"


@pytest.mark.parametrize(
    "token, password",
    [("s3cr3t-t0ken", "hookpass"), ("s3cr3t|t0ken", "hook|pass")],
    ids=["plain", "percent-encoded-by-requests"],
)
def test_credentials_in_the_webhook_url_never_reach_attempts_or_logs(
    token,
    password,
    webhook_integration,
    unused_tcp_port,
    django_capture_on_commit_callbacks,
    caplog,
):
    webhook_integration.webhook_url = (
        f"http://hookuser:{password}@127.0.0.1:{unused_tcp_port}/hook?token={token}"
    )
    webhook_integration.save()

    with caplog.at_level(logging.DEBUG):
        create_order(webhook_integration, django_capture_on_commit_callbacks)

    attempt = DeliveryAttempt.objects.get()
    delivery = WebhookDelivery.objects.get()
    webhook_integration.refresh_from_db()
    texts = [
        attempt.error_message,
        attempt.response_excerpt,
        delivery.last_error,
        webhook_integration.last_error_message,
        caplog.text,
    ]
    assert attempt.error_class == "connection_error"
    for secret in ("s3cr3t", "t0ken", password, "hook%7Cpass", webhook_integration.webhook_secret):
        assert all(secret not in text for text in texts)


def test_a_token_in_the_webhook_url_query_string_never_appears_in_debug_logs(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, caplog
):
    serve(httpserver, received)
    webhook_integration.webhook_url = httpserver.url_for(HOOK) + "?token=s3cr3t-t0ken"
    webhook_integration.save()

    with caplog.at_level(logging.DEBUG):
        create_order(webhook_integration, django_capture_on_commit_callbacks)

    assert WebhookDelivery.objects.get().state == DeliveryState.SUCCEEDED
    # The partner server's own request log (werkzeug, in this process) is not ours.
    ours = [record for record in caplog.records if not record.name.startswith("werkzeug")]
    assert any(record.name.startswith("urllib3") for record in ours)
    assert all("s3cr3t-t0ken" not in record.getMessage() for record in ours)


def test_webhooks_to_private_addresses_are_refused_in_production(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received)
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "refused_url"
    assert WebhookDelivery.objects.get().state == DeliveryState.FAILED
    assert received.requests == []


def test_a_host_that_resolves_to_a_private_address_after_the_check_gets_nothing(
    settings,
    httpserver,
    received,
    webhook_integration,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    """DNS rebinding: public when the URL is checked, loopback when we connect."""
    serve(httpserver, received)
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    webhook_integration.webhook_url = f"https://partner.example:{httpserver.port}{HOOK}"
    webhook_integration.save()
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding_dns(host, port, *args, **kwargs):
        if host != "partner.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)

    create_order(webhook_integration, django_capture_on_commit_callbacks)

    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_class == "connection_error"
    assert "resolved to 127.0.0.1, which is not a public address" in attempt.error_message
    assert received.requests == []


def test_a_webhook_url_refused_in_production_is_reported_without_its_credentials(
    settings, webhook_integration, django_capture_on_commit_callbacks, caplog
):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    webhook_integration.webhook_url = (
        "http://hookuser:hookpass@partner.example/hook?token=s3cr3t-t0ken"
    )
    webhook_integration.save()

    with caplog.at_level(logging.DEBUG):
        create_order(webhook_integration, django_capture_on_commit_callbacks)

    attempt = DeliveryAttempt.objects.get()
    webhook_integration.refresh_from_db()
    assert attempt.error_class == "refused_url"
    assert "http://partner.example/hook" in attempt.error_message
    assert "must use https" in attempt.error_message
    texts = [
        attempt.error_message,
        WebhookDelivery.objects.get().last_error,
        webhook_integration.last_error_message,
        caplog.text,
    ]
    for secret in ("s3cr3t-t0ken", "hookpass"):
        assert all(secret not in text for text in texts)


# --- Ops actions ------------------------------------------------------------------------------


def test_a_failed_delivery_can_be_replayed_with_the_same_webhook_id(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("bad", status=400)])
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        delivery_replay(delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.attempts == 2
    assert received.ids == [str(delivery.pk)] * 2


def test_a_pending_delivery_can_be_cancelled_and_is_never_sent(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("down", status=503)])
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()

    assert delivery_cancel(delivery=delivery)
    make_due()
    dispatch_now()

    assert delivery.state == DeliveryState.CANCELLED
    assert len(received.requests) == 1
    assert not delivery_cancel(delivery=delivery)


def test_failed_deliveries_in_a_time_range_are_replayed(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("bad", status=400)] * 3)
    for number in range(3):
        create_order(webhook_integration, django_capture_on_commit_callbacks, f"P-{number}")
    old = WebhookDelivery.objects.order_by("created_at").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

    with django_capture_on_commit_callbacks(execute=True):
        count = deliveries_replay_failed(
            integration=webhook_integration,
            created_from=timezone.now() - timedelta(days=1),
            created_to=timezone.now(),
        )

    assert count == 2
    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert states.pop(old.pk) == DeliveryState.FAILED
    assert set(states.values()) == {DeliveryState.SUCCEEDED}


def test_send_test_webhook_pings_the_partner_and_reports_the_answer(
    httpserver, received, webhook_integration
):
    serve(httpserver, received, [Response("nope", status=401)])

    failed = delivery_send_test(integration=webhook_integration)
    ok = delivery_send_test(integration=webhook_integration)

    assert not failed.ok
    assert "HTTP 401" in failed.message
    assert "nope" in failed.message
    assert ok.ok
    assert "answered 200" in ok.message
    [first, _second] = received.verified(webhook_integration.webhook_secret)
    assert first["payload"]["type"] == "ping"
    assert ok.delivery.state == DeliveryState.SUCCEEDED
    assert failed.delivery.state == DeliveryState.FAILED  # pings are never retried


def test_the_readme_receiver_example_accepts_our_test_ping_and_order_events(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    # The partner's view from README "Verifying our signature", run as written against what
    # we send: the test webhook ops send from the admin, then an order event.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Verifying our signature", 1)[1]
    example = section.split("```python", 1)[1].split("```", 1)[0]
    applied = []
    partner = {
        "already_processed": lambda webhook_id: False,
        "last_sequence_applied": lambda order_id: 0,
        "apply": applied.append,
    }
    exec(example, partner)
    partner["WEBHOOK_SECRET"] = webhook_integration.webhook_secret
    serve(httpserver, received)

    assert delivery_send_test(integration=webhook_integration).ok
    create_order(webhook_integration, django_capture_on_commit_callbacks)

    answers = [
        partner["chargecars_webhook"](
            SimpleNamespace(body=request.get_data(), headers=request.headers)
        )
        for request in received.requests
    ]
    assert answers == [200, 200]
    assert [data["sequence"] for data in applied] == [1]


def test_the_success_rate_is_recomputed_at_most_every_refresh_interval(
    settings, httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_HEALTH_REFRESH_SECONDS = 60
    serve(httpserver, received, [Response("ok"), Response("boom", status=500)])
    order = create_order(webhook_integration, django_capture_on_commit_callbacks)

    change(order, "approved", django_capture_on_commit_callbacks)

    webhook_integration.refresh_from_db()
    assert webhook_integration.success_rate == 100  # computed after the first batch only
    assert webhook_integration.last_error_message == "Webhook delivery failed: HTTP 500"


def test_the_success_rate_of_an_idle_integration_follows_the_24_hour_window(
    webhook_integration,
):
    # Given a partner that failed three times 25 hours ago and succeeded once 2 hours ago,
    # and another that last failed 25 hours ago, both with a stored rate of 0.00
    attempt = DeliveryAttempt.objects.create
    now = timezone.now()
    WebhookDelivery.objects.create(integration=webhook_integration, event="ping", payload={})
    delivery = WebhookDelivery.objects.get()
    for _ in range(3):
        attempt(
            delivery=delivery,
            integration=webhook_integration,
            attempted_at=now - timedelta(hours=25),
        )
    attempt(
        delivery=delivery,
        integration=webhook_integration,
        attempted_at=now - timedelta(hours=2),
        succeeded=True,
    )
    other = PartnerIntegrationFactory(integration_name="gone_quiet", success_rate=0)
    WebhookDelivery.objects.create(integration=other, event="ping", payload={})
    attempt(
        delivery=WebhookDelivery.objects.get(integration=other),
        integration=other,
        attempted_at=now - timedelta(hours=25),
    )
    PartnerIntegration.objects.filter(pk=webhook_integration.pk).update(success_rate=0)

    # When the dispatcher runs
    dispatch_now()

    # Then ops see the rate over the last 24 hours, and none where there were no attempts
    webhook_integration.refresh_from_db()
    other.refresh_from_db()
    assert webhook_integration.success_rate == 100
    assert other.success_rate is None


def test_held_deliveries_of_a_deactivated_integration_are_not_drained(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks
):
    serve(httpserver, received, [Response("gone", status=410)])
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    PartnerIntegration.objects.filter(pk=webhook_integration.pk).update(is_active=False)
    webhook_integration.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resume(integration=webhook_integration)
    dispatch_now()

    assert len(received.requests) == 1
    assert WebhookDelivery.objects.get().state == DeliveryState.HELD


def test_deliveries_of_an_integration_deactivated_after_commit_are_kept_held(
    httpserver, received, webhook_integration, django_capture_on_commit_callbacks, monkeypatch
):
    serve(httpserver, received)
    monkeypatch.setattr("integrations.outbound.tasks.webhook_delivery_send.delay", lambda pk: None)
    create_order(webhook_integration, django_capture_on_commit_callbacks)
    PartnerIntegration.objects.filter(pk=webhook_integration.pk).update(is_active=False)

    dispatch_now()
    assert WebhookDelivery.objects.get().state == DeliveryState.HELD
    assert received.requests == []

    PartnerIntegration.objects.filter(pk=webhook_integration.pk).update(is_active=True)
    dispatch_now()  # released to pending
    dispatch_now()  # and sent

    assert WebhookDelivery.objects.get().state == DeliveryState.SUCCEEDED
    assert len(received.requests) == 1
