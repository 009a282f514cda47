"""Outbound webhooks: the transactional outbox, signing, sending, retries, holds and replay.

Life of a delivery
------------------
1. ``delivery_enqueue_for_change`` writes a ``WebhookDelivery`` row in the transaction that
   changed the order (connected to ``orders.signals.order_status_changed``). For a
   ``real_time`` integration the first attempt is queued on commit; other frequencies wait
   for the integration's next sync slot (``next_attempt_at``).
2. A worker claims the row (a lease: ``claim_token`` + ``claimed_until``), POSTs it signed
   with Standard Webhooks headers, and records the attempt and the outcome in one go.
3. Failures retry on ``WEBHOOK_RETRY_SCHEDULE`` (``Retry-After`` honoured), kept in the
   database. ``deliveries_dispatch`` (Celery beat, every few seconds) claims whatever is due
   in batches, so a lost broker message or a killed worker only delays a delivery.
4. After ``WEBHOOK_HOLD_AFTER_FAILURES`` consecutive retryable failures, or on 410 Gone, the
   integration's deliveries are held; held deliveries are probed on the retry schedule (not
   after a 410: ops resume those) and drained in order once the partner answers again.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from integrations import health
from integrations.config import check_outbound_url
from integrations.http import error_text, redact_url, session_for
from integrations.models import (
    WORKER_LOST,
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    PartnerIntegration,
    SyncFrequency,
    WebhookDelivery,
)
from integrations.signing import signature_headers, webhook_secrets_valid_now
from orders.status import EVENT_FOR_STATUS

logger = logging.getLogger(__name__)

PING_EVENT = "ping"
SYNC_PERIODS: dict[str, timedelta] = {
    SyncFrequency.EVERY_15_MINUTES: timedelta(minutes=15),
    SyncFrequency.HOURLY: timedelta(hours=1),
    SyncFrequency.DAILY: timedelta(days=1),
}
HOLDING_STATES = (DeliveryHoldState.HELD, DeliveryHoldState.DRAINING)

# Outcome classes of one attempt.
SUCCESS, RETRY, FAIL, GONE = "success", "retry", "fail", "gone"


# --- Payload ------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def delivery_payload(*, integration: PartnerIntegration, order, change, event: str, sequence):
    """The body partners receive: ``{"type", "timestamp", "data"}``, statuses in their words."""
    previous = change.from_status or None
    return {
        "type": event,
        "timestamp": _iso(change.created_at),
        "data": {
            "order_id": str(order.pk),
            "order_number": order.order_number,
            "sequence": sequence,
            "status": integration.partner_status_for(change.to_status),
            "chargecars_status": change.to_status,
            "previous_status": integration.partner_status_for(previous) if previous else None,
            "previous_chargecars_status": previous,
            "partner_external_references": order.partner_external_references or {},
            "source": change.source,
        },
    }


def delivery_body(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=False)


# --- Outbox: writing deliveries -------------------------------------------------------------


def next_sync_slot(*, integration: PartnerIntegration, now: datetime | None = None) -> datetime:
    """When a non-real-time integration next hears from us: the first whole period after
    ``last_sync_at`` (or after the epoch, when it never synced) that is not in the past."""
    now = now or timezone.now()
    period = SYNC_PERIODS.get(integration.sync_frequency)
    if period is None:
        return now
    anchor = integration.last_sync_at or datetime(2000, 1, 1, tzinfo=UTC)
    if anchor >= now:
        return anchor
    periods = -((anchor - now) // period)  # ceil((now - anchor) / period)
    return anchor + periods * period


def _integration_is_holding(integration_id) -> bool:
    return DeliveryHold.objects.filter(
        integration_id=integration_id, state__in=HOLDING_STATES
    ).exists()


def delivery_enqueue_for_change(*, order, change) -> WebhookDelivery | None:
    """Write the delivery for an order change, in the caller's transaction (the outbox).

    Only the order's source integration is notified, when it is active, has a webhook URL and
    subscribes to the event. Must run under the order's row lock (the status engine holds it)
    so the per-order sequence is race-free; a unique constraint backs that up.
    """
    event = EVENT_FOR_STATUS.get(change.to_status)
    if not event or not order.source_integration_id:
        return None
    integration = _source_integration(order, change)
    if not (
        integration.is_active and integration.webhook_url and event in integration.subscribed_events
    ):
        return None
    if not change.from_status:
        sequence = 1  # the order was just created: its first event
    else:
        last = WebhookDelivery.objects.filter(integration=integration, order=order).aggregate(
            last=Max("sequence")
        )["last"]
        sequence = (last or 0) + 1
    now = timezone.now()
    real_time = integration.sync_frequency == SyncFrequency.REAL_TIME
    # WEBHOOK_RETRY_SCHEDULE's first entry is the delay of the first attempt (0: on commit).
    first_delay = float(settings.WEBHOOK_RETRY_SCHEDULE[0]) if real_time else 0.0
    delivery = WebhookDelivery.objects.create(
        integration=integration,
        order=order,
        event=event,
        sequence=sequence,
        payload=delivery_payload(
            integration=integration, order=order, change=change, event=event, sequence=sequence
        ),
        # A held integration's new deliveries are marked held when a worker picks them up
        # (see deliveries_send_claimed): no hold lookup on the order-change path.
        state=DeliveryState.PENDING,
        created_at=now,
        next_attempt_at=(
            now + timedelta(seconds=first_delay)
            if real_time
            else next_sync_slot(integration=integration, now=now)
        ),
    )
    if real_time and not first_delay:
        transaction.on_commit(lambda: _queue_send(delivery.pk))
    return delivery


def _source_integration(order, change) -> PartnerIntegration:
    """The order's integration, without a query when the caller already had it loaded."""
    for holder, name in ((order, "source_integration"), (change, "integration")):
        descriptor = type(holder)._meta.get_field(name)
        if descriptor.is_cached(holder):
            candidate = getattr(holder, name)
            if candidate is not None and candidate.pk == order.source_integration_id:
                return candidate
    return PartnerIntegration.objects.get(pk=order.source_integration_id)


def _queue_send(delivery_id) -> None:
    """Hand a committed delivery to a worker; if the broker is down, the dispatcher will."""
    from integrations.tasks import webhook_delivery_send

    try:
        webhook_delivery_send.delay(str(delivery_id))
    except Exception:  # broker unreachable: the row is committed, the dispatcher sends it
        logger.warning(
            "Could not queue webhook delivery %s; the dispatcher will send it",
            delivery_id,
            exc_info=True,
        )


def on_order_status_changed(sender, *, order, change, **kwargs) -> None:
    delivery_enqueue_for_change(order=order, change=change)


# --- Claiming -------------------------------------------------------------------------------


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE_SECONDS)


def deliveries_claim_due(
    *, limit: int, now: datetime | None = None
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Claim up to ``limit`` due deliveries; returns one (claim token, ids) per integration.

    Safe with several dispatchers: PostgreSQL skips rows another transaction has locked;
    SQLite serialises writers (IMMEDIATE transactions), and the conditional UPDATE (only
    unclaimed rows, lease as the condition) guards both. A claim also moves
    ``next_attempt_at`` to the end of the lease: claimed rows drop out of the due index (no
    rescanning them claim after claim), and a dead worker's rows are due again when the
    lease runs out.
    """
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(_unclaimed(now))
        .order_by("next_attempt_at", "created_at", "sequence")
    )
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True).values_list(
                "id", "integration_id", "claim_token"
            )[:limit]
        )
        by_integration: dict = {}
        for pk, integration_id, _ in rows:
            by_integration.setdefault(integration_id, []).append(pk)
        _record_lost_claims(
            [(pk, integration_id) for pk, integration_id, token in rows if token], now
        )
        claims = []
        for ids in by_integration.values():
            token = uuid.uuid4()
            lease = _lease(now)
            WebhookDelivery.objects.filter(id__in=ids).filter(_unclaimed(now)).update(
                claim_token=token, claimed_until=lease, next_attempt_at=lease
            )
            claims.append((token, ids))
    return claims


def _record_lost_claims(lost: list[tuple[uuid.UUID, object]], now: datetime) -> None:
    """A claim whose lease ran out with its token still set: no outcome was recorded (the
    worker was killed or crashed mid-send, or its task never ran). Log that try in the
    attempt log; it may have reached the partner, and the resend carries the same
    webhook-id."""
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery_id=pk,
                integration_id=integration_id,
                attempted_at=now,
                succeeded=False,
                error_class=WORKER_LOST,
                error_message="The claim on this delivery ran out before an outcome was "
                "recorded (the worker stopped, or its task never ran); the partner may have "
                "received it. Sent again with the same webhook-id.",
            )
            for pk, integration_id in lost
        ]
    )


def deliveries_release(*, token, delay: float = 0.0) -> int:
    """Give claimed but unsent deliveries back: due again at once, or after ``delay`` seconds
    (the partner's ``Retry-After``)."""
    return WebhookDelivery.objects.filter(claim_token=token).update(
        claim_token=None,
        claimed_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )


# --- One attempt ----------------------------------------------------------------------------


@dataclass
class AttemptResult:
    outcome: str
    attempted_at: datetime
    duration_ms: int = 0
    status_code: int | None = None
    response_excerpt: str = ""
    error_class: str = ""
    error_message: str = ""
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCESS

    @property
    def summary(self) -> str:
        if self.status_code is not None:
            text = f"HTTP {self.status_code}"
            return f"{text}: {self.error_message}" if self.error_message else text
        return f"{self.error_class}: {self.error_message}"


def classify_status(status_code: int) -> str:
    """2xx succeeds; 408, 429 and 5xx retry; 410 pauses the integration; other codes fail."""
    if 200 <= status_code < 300:
        return SUCCESS
    if status_code == 410:
        return GONE
    if status_code in (408, 429) or status_code >= 500:
        return RETRY
    return FAIL


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(int(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or timezone.now())).total_seconds()
    return min(max(seconds, 0.0), float(settings.WEBHOOK_RETRY_AFTER_MAX))


def _read_excerpt(response: requests.Response, *, url: str, deadline: float) -> tuple[str, str]:
    """The start of the response body as text, and a note when the body was cut off.

    Reading stops at ``deadline`` (a ``time.perf_counter()`` value) and the connection is
    dropped: the read timeout bounds each socket read, not the body, so a partner that
    trickles its answer could otherwise hold one send past the claim's lease.
    """
    cap = settings.WEBHOOK_RESPONSE_EXCERPT_CHARS
    raw = response.raw
    chunks, size, note = [], 0, ""
    too_slow = "the partner sent its response body too slowly: stopped reading it"
    try:
        while size <= cap * 4:  # beyond that the rest is not read: the connection is dropped
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                note = too_slow
                break
            sock = getattr(raw.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(remaining, settings.WEBHOOK_READ_TIMEOUT))
            chunk = raw.read1(8192, decode_content=True)  # what has arrived, not a full 8 KiB
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        # The status line and headers arrived: the answer stands, only its body is partial.
        if time.perf_counter() >= deadline:
            note = too_slow
        else:
            note = f"the connection broke while the response body was read: {error_text(exc, url)}"
    finally:
        response.close()
    text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
    return text[:cap], note


def webhook_post(
    *, url: str, secrets: list[str], msg_id: str, body: str, url_checked: bool = False
) -> AttemptResult:
    """POST one signed webhook and classify what happened. Never raises for HTTP trouble.

    ``url_checked``: the caller already applied the SSRF policy to ``url`` (once per batch).
    """
    now = timezone.now()
    if not url_checked and (problem := check_outbound_url(url)):
        return AttemptResult(FAIL, now, error_class="refused_url", error_message=problem)
    if not secrets:
        return AttemptResult(
            FAIL,
            now,
            error_class="no_secret",
            error_message="The integration has no webhook secret.",
        )
    headers = signature_headers(secrets=secrets, msg_id=msg_id, timestamp=now, body=body)
    headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    try:
        response = session_for(url).post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(settings.WEBHOOK_CONNECT_TIMEOUT, settings.WEBHOOK_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as exc:
        result = AttemptResult(
            RETRY, now, error_class="timeout", error_message=error_text(exc, url)
        )
    except requests.ConnectionError as exc:
        result = AttemptResult(
            RETRY, now, error_class="connection_error", error_message=error_text(exc, url)
        )
    except requests.RequestException as exc:
        result = AttemptResult(
            FAIL, now, error_class=type(exc).__name__, error_message=error_text(exc, url)
        )
    else:
        # Connect + read timeout is the whole send's budget, body included.
        budget = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
        excerpt, cut_off = _read_excerpt(response, url=url, deadline=started + budget)
        outcome = classify_status(response.status_code)
        result = AttemptResult(
            outcome,
            now,
            status_code=response.status_code,
            response_excerpt=excerpt,
            retry_after=retry_after_seconds(response.headers.get("Retry-After"), now=now),
        )
        if 300 <= response.status_code < 400:
            result.error_message = "redirects are not followed; configure the final URL"
        elif outcome == GONE:
            result.error_message = "410 Gone: the partner retired this endpoint"
        if cut_off:
            result.error_message = "; ".join(filter(None, [result.error_message, cut_off]))
    result.duration_ms = int((time.perf_counter() - started) * 1000)
    return result


# --- Sending claimed deliveries and recording outcomes -------------------------------------------


@dataclass
class _Batch:
    """Outcomes of one integration's claimed deliveries, written together."""

    integration: PartnerIntegration
    token: uuid.UUID | None
    results: list[tuple[WebhookDelivery, AttemptResult]] = field(default_factory=list)


def _next_state(delivery: WebhookDelivery, result: AttemptResult, now: datetime) -> dict:
    """The delivery's new fields after ``result``."""
    fields: dict = {
        "attempts": F("attempts") + 1,
        "last_attempt_at": result.attempted_at,
        "last_status_code": result.status_code,
        "last_error": "" if result.succeeded else result.summary[:1000],
        "claim_token": None,
        "claimed_until": None,
    }
    if result.outcome == SUCCESS:
        fields.update(state=DeliveryState.SUCCEEDED, next_attempt_at=None, completed_at=now)
    elif result.outcome == FAIL or delivery.event == PING_EVENT:
        fields.update(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now)
    elif result.outcome == GONE:
        fields.update(state=DeliveryState.HELD, next_attempt_at=now)
    elif delivery.state == DeliveryState.HELD:
        fields.update(next_attempt_at=now)  # a failed probe or drain: stays held, in order
    else:
        schedule = settings.WEBHOOK_RETRY_SCHEDULE
        position = delivery.schedule_position + 1
        if position >= len(schedule):
            fields.update(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now)
        else:
            delay = max(float(schedule[position]), result.retry_after or 0.0)
            fields.update(
                schedule_position=position, next_attempt_at=now + timedelta(seconds=delay)
            )
    return fields


def _record(batch: _Batch) -> str:
    """Write attempts, delivery states and hold counters for one batch of outcomes.

    Returns the reason when these outcomes put the integration's deliveries on hold.
    """
    if not batch.results:
        return ""
    now = timezone.now()
    integration = batch.integration
    token_filter = {"claim_token": batch.token} if batch.token else {}
    # Recorders of one integration take its hold row first, so they queue one behind the
    # other: a recorder that trips the hold updates every pending delivery of the
    # integration, and must not find another recorder's rows locked (a deadlock on
    # PostgreSQL, losing that recorder's attempts).
    DeliveryHold.objects.get_or_create(integration_id=integration.pk)
    with transaction.atomic():
        hold = DeliveryHold.objects.select_for_update().get(integration_id=integration.pk)
        DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(
                    delivery_id=delivery.pk,
                    integration_id=integration.pk,
                    attempted_at=result.attempted_at,
                    duration_ms=result.duration_ms,
                    status_code=result.status_code,
                    succeeded=result.succeeded,
                    response_excerpt=result.response_excerpt,
                    error_class=result.error_class,
                    error_message=result.error_message,
                )
                for delivery, result in batch.results
            ]
        )
        # Successes are written with one UPDATE per status code; the rest row by row.
        successes: dict[int | None, list] = {}
        for delivery, result in batch.results:
            if result.succeeded:
                successes.setdefault(result.status_code, []).append(delivery.pk)
            else:
                WebhookDelivery.objects.filter(pk=delivery.pk, **token_filter).update(
                    **_next_state(delivery, result, now)
                )
        for status_code, ids in successes.items():
            WebhookDelivery.objects.filter(pk__in=ids, **token_filter).update(
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_status_code=status_code,
                last_error="",
                claim_token=None,
                claimed_until=None,
                state=DeliveryState.SUCCEEDED,
                next_attempt_at=None,
                completed_at=now,
            )
        return _hold_update(batch, now, hold)


def _hold_update(batch: _Batch, now: datetime, hold: DeliveryHold) -> str:
    """Count consecutive retryable failures on ``hold`` (locked by the caller); hold the
    integration's deliveries past the threshold or on 410 Gone. Returns the reason when it
    held them."""
    results = [r for d, r in batch.results if d.event != PING_EVENT]
    if not results:
        return ""
    gone = next((r for r in results if r.outcome == GONE), None)
    trailing = 0
    any_success = False
    for result in results:
        if result.outcome == SUCCESS:
            trailing, any_success = 0, True
        elif result.outcome == RETRY:
            trailing += 1
    if not gone and not trailing:
        waiting = hold.state == DeliveryHoldState.OPEN and hold.next_probe_at is not None
        if any_success and (hold.consecutive_failures or waiting):
            # The partner took a delivery: its earlier Retry-After no longer applies.
            hold.consecutive_failures = 0
            hold.next_probe_at = None if waiting else hold.next_probe_at
            hold.save(update_fields=["consecutive_failures", "next_probe_at"])
        return ""
    hold.consecutive_failures = trailing if any_success else hold.consecutive_failures + trailing
    reason = ""
    if gone:
        hold.manual_resume_required = True
        reason = "The partner answered 410 Gone: deliveries are paused until ops resume them."
    elif (
        hold.state == DeliveryHoldState.OPEN
        and hold.consecutive_failures >= settings.WEBHOOK_HOLD_AFTER_FAILURES
    ):
        reason = (
            f"{hold.consecutive_failures} consecutive failed attempts (last: "
            f"{results[-1].summary}); deliveries are held and will drain when the partner "
            "recovers."
        )
    if reason:
        _hold_trip(hold, reason=reason, now=now, retry_after=results[-1].retry_after or 0.0)
    else:
        fields = ["consecutive_failures"]
        wait = max((r.retry_after or 0.0 for r in results if r.outcome == RETRY), default=0.0)
        if wait and hold.state == DeliveryHoldState.OPEN:
            # The partner's Retry-After holds for the whole integration: deliveries
            # written after it wait too (see deliveries_send_claimed).
            until = now + timedelta(seconds=wait)
            if hold.next_probe_at is None or hold.next_probe_at < until:
                hold.next_probe_at = until
                fields.append("next_probe_at")
        hold.save(update_fields=fields)
    return reason


def _hold_trip(hold: DeliveryHold, *, reason: str, now: datetime, retry_after: float = 0.0) -> None:
    hold.state = DeliveryHoldState.HELD
    hold.reason = reason
    hold.held_at = now
    hold.probes = 0
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    delay = max(float(schedule[min(1, len(schedule) - 1)]), retry_after)
    hold.next_probe_at = now + timedelta(seconds=delay)
    hold.save()
    WebhookDelivery.objects.filter(
        integration_id=hold.integration_id, state=DeliveryState.PENDING
    ).exclude(event=PING_EVENT).update(state=DeliveryState.HELD)
    logger.error("Webhook deliveries held for integration %s: %s", hold.integration_id, reason)


def _send_all(
    deliveries: list[WebhookDelivery],
    *,
    integration: PartnerIntegration,
    token,
    streak: int | None = None,
) -> _Batch:
    """Send ``deliveries`` in order. A claimed batch (``token``) passes ``streak``, the
    consecutive failures recorded so far, and stops where the hold threshold is reached;
    the hold then keeps the rest (probes and drains, token None, apply their own rules)."""
    url = integration.webhook_url or ""
    url_checked = check_outbound_url(url) is None
    secrets = webhook_secrets_valid_now(integration)
    budget = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    flush_every = 100
    batch = _Batch(integration=integration, token=token)
    sent: list[tuple[WebhookDelivery, AttemptResult]] = []
    held_reason = ""
    retry_after = 0.0
    for delivery in deliveries:
        if token and timezone.now() + timedelta(seconds=budget) > delivery.claimed_until:
            break  # lease nearly over: leave the rest to the next claim
        result = webhook_post(
            url=url,
            secrets=secrets,
            msg_id=str(delivery.pk),
            body=getattr(delivery, "body_text", None) or delivery_body(delivery),
            url_checked=url_checked,
        )
        batch.results.append((delivery, result))
        if result.outcome == GONE and delivery.event != PING_EVENT:
            break  # the partner retired the endpoint: the rest is held, not sent
        if token and result.outcome == RETRY and result.retry_after:
            retry_after = result.retry_after
            break  # the partner asked us to wait (429/503 Retry-After): so does the rest
        if streak is not None and delivery.event != PING_EVENT:
            streak = 0 if result.outcome == SUCCESS else streak + (result.outcome == RETRY)
            if streak >= settings.WEBHOOK_HOLD_AFTER_FAILURES:
                break  # recording this trips the hold: the rest waits held, unsent
        if len(batch.results) >= flush_every:
            held_reason = _record(batch) or held_reason
            sent += batch.results
            batch = _Batch(integration=integration, token=token)
    held_reason = _record(batch) or held_reason
    sent += batch.results
    if token and len(sent) < len(deliveries):
        # Whatever was not reached goes back to the pool, due once the partner lets us.
        deliveries_release(token=token, delay=retry_after)
    if sent:
        failures = [result for _, result in sent if not result.succeeded]
        last_failure = failures[-1] if failures else None
        health.integration_health_record(
            integration_id=integration.pk,
            error_at=last_failure.attempted_at if last_failure else None,
            error_message=(
                f"Deliveries held: {held_reason}"
                if held_reason
                else f"Webhook delivery failed: {last_failure.summary}"
                if last_failure
                else ""
            ),
        )
    return _Batch(integration=integration, token=token, results=sent)


def deliveries_send_claimed(*, token) -> int:
    """Send the deliveries claimed under ``token`` (one integration), in order."""
    deliveries = list(
        WebhookDelivery.objects.filter(claim_token=token)
        # The stored JSON as text is the body: no decode and re-encode per delivery.
        .annotate(body_text=Cast("payload", output_field=TextField()))
        .defer("payload")
        .order_by("next_attempt_at", "created_at", "sequence")
    )
    if not deliveries:
        return 0
    integration = PartnerIntegration.objects.get(pk=deliveries[0].integration_id)
    if not integration.is_active or not integration.webhook_url:
        # Kept, not dropped: released to pending once the integration is active again.
        WebhookDelivery.objects.filter(claim_token=token).update(
            state=DeliveryState.HELD,
            claim_token=None,
            claimed_until=None,
            last_error="The integration is inactive or has no webhook URL.",
        )
        return 0
    state, not_before, streak = DeliveryHold.objects.filter(
        integration_id=integration.pk
    ).values_list("state", "next_probe_at", "consecutive_failures").first() or (
        DeliveryHoldState.OPEN,
        None,
        0,
    )
    if state in HOLDING_STATES:
        # Written while the integration was held or draining: queue behind the backlog.
        WebhookDelivery.objects.filter(claim_token=token).update(
            state=DeliveryState.HELD, claim_token=None, claimed_until=None
        )
        return 0
    if not_before and (wait := (not_before - timezone.now()).total_seconds()) > 0:
        # The partner's Retry-After (an open hold's next_probe_at) is not over yet.
        deliveries_release(token=token, delay=wait)
        return 0
    batch = _send_all(deliveries, integration=integration, token=token, streak=streak)
    return len(batch.results)


def delivery_send(*, delivery_id) -> bool:
    """Send one delivery now if it is due and nobody else holds it (the on-commit path)."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        )
        .filter(_unclaimed(now))
        .update(claim_token=token, claimed_until=_lease(now), next_attempt_at=_lease(now))
    )
    return bool(claimed) and deliveries_send_claimed(token=token) > 0


# --- Dispatcher, holds, drains ----------------------------------------------------------------


def deliveries_dispatch(
    *,
    enqueue_batch: Callable[[uuid.UUID], None],
    enqueue_drain: Callable[[object], None],
    max_deliveries: int = 5000,
) -> int:
    """Claim what is due in batches and hand each batch to a worker (Celery beat calls this).

    Also releases held deliveries whose integration is open again and starts probes and
    drains of held integrations. Returns how many deliveries were handed out.
    """
    handed_out = 0
    while handed_out < max_deliveries:
        claims = deliveries_claim_due(limit=settings.WEBHOOK_DISPATCH_BATCH_SIZE)
        if not claims:
            break
        for token, ids in claims:
            try:
                enqueue_batch(token)
            except Exception:
                logger.warning("Could not queue a delivery batch; retrying later", exc_info=True)
                deliveries_release(token=token)
                return handed_out
            handed_out += len(ids)
    deliveries_release_unheld()
    health.integrations_health_refresh_recent()
    now = timezone.now()
    due_holds = DeliveryHold.objects.filter(
        Q(state=DeliveryHoldState.HELD, manual_resume_required=False, next_probe_at__lte=now)
        | Q(state=DeliveryHoldState.DRAINING)
    ).filter(_unclaimed(now))
    for integration_id in due_holds.values_list("integration_id", flat=True):
        try:
            enqueue_drain(integration_id)
        except Exception:
            logger.warning("Could not queue a drain of held deliveries", exc_info=True)
            break
    return handed_out


def deliveries_release_unheld() -> int:
    """Held deliveries of active integrations that are no longer held go back to pending."""
    holding = DeliveryHold.objects.filter(state__in=HOLDING_STATES).values("integration_id")
    return (
        WebhookDelivery.objects.filter(state=DeliveryState.HELD, integration__is_active=True)
        .exclude(integration_id__in=holding)
        .update(state=DeliveryState.PENDING, next_attempt_at=timezone.now())
    )


def deliveries_drain(*, integration_id, time_budget: float = 60.0) -> bool:
    """Probe a held integration, or drain its held deliveries in order once it answers.

    While held, only the oldest held delivery is tried (on the probe schedule); a success
    turns the hold into ``draining``, which sends every held delivery oldest first and stops
    at the first retryable failure (back to held). Returns True when more is left to drain.
    """
    now = timezone.now()
    claimed = (
        DeliveryHold.objects.filter(integration_id=integration_id, state__in=HOLDING_STATES)
        .filter(_unclaimed(now))
        .update(claimed_until=now + timedelta(seconds=time_budget + 60))
    )
    if not claimed:
        return False
    hold = DeliveryHold.objects.select_related("integration").get(integration_id=integration_id)
    integration = hold.integration
    try:
        if hold.state == DeliveryHoldState.HELD and (
            hold.manual_resume_required or (hold.next_probe_at and hold.next_probe_at > now)
        ):
            return False
        if not integration.is_active or not integration.webhook_url:
            return False  # kept held until the integration is usable again
        started = time.monotonic()
        while time.monotonic() - started < time_budget:
            delivery = (
                WebhookDelivery.objects.filter(integration=integration, state=DeliveryState.HELD)
                .order_by("created_at", "sequence")
                .first()
            )
            if delivery is None:
                _hold_open(integration_id)
                return False
            batch = _send_all([delivery], integration=integration, token=None)
            outcome = batch.results[0][1].outcome
            hold.refresh_from_db()
            if outcome in (SUCCESS, FAIL):
                if hold.state == DeliveryHoldState.HELD:
                    DeliveryHold.objects.filter(pk=hold.pk).update(
                        state=DeliveryHoldState.DRAINING, consecutive_failures=0
                    )
                continue
            # Still failing (or gone): stay held, probe again later on the schedule, and
            # not before the partner's Retry-After.
            schedule = settings.WEBHOOK_RETRY_SCHEDULE
            probes = hold.probes + 1
            delay = max(
                float(schedule[min(probes + 1, len(schedule) - 1)]),
                batch.results[0][1].retry_after or 0.0,
            )
            DeliveryHold.objects.filter(pk=hold.pk).update(
                state=DeliveryHoldState.HELD,
                probes=probes,
                next_probe_at=timezone.now() + timedelta(seconds=delay),
            )
            return False
        return True
    finally:
        DeliveryHold.objects.filter(integration_id=integration_id).update(claimed_until=None)


def _hold_open(integration_id) -> None:
    with transaction.atomic():
        DeliveryHold.objects.filter(integration_id=integration_id).update(
            state=DeliveryHoldState.OPEN,
            consecutive_failures=0,
            manual_resume_required=False,
            reason="",
            probes=0,
            next_probe_at=None,
        )
        # Deliveries written as held while draining finished go out normally now.
        WebhookDelivery.objects.filter(
            integration_id=integration_id, state=DeliveryState.HELD
        ).update(state=DeliveryState.PENDING, next_attempt_at=timezone.now())
    logger.info("Webhook deliveries of integration %s resumed", integration_id)


def deliveries_resume(*, integration: PartnerIntegration) -> int:
    """Ops: lift a hold (e.g. after a 410 was fixed); held deliveries drain in order."""
    updated = DeliveryHold.objects.filter(
        integration=integration, state=DeliveryHoldState.HELD
    ).update(
        state=DeliveryHoldState.DRAINING,
        manual_resume_required=False,
        next_probe_at=timezone.now(),
        claimed_until=None,
    )
    if updated:
        transaction.on_commit(lambda: _queue_drain(integration.pk))
    return updated


def _queue_drain(integration_id) -> None:
    from integrations.tasks import webhook_deliveries_drain

    try:
        webhook_deliveries_drain.delay(str(integration_id))
    except Exception:
        logger.warning("Could not queue a drain; the dispatcher will", exc_info=True)


def deliveries_push_for_integration(*, integration: PartnerIntegration) -> int:
    """Sync hook: make this integration's waiting first attempts due now (batched sends)."""
    return WebhookDelivery.objects.filter(
        integration=integration,
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at__gt=timezone.now(),
    ).update(next_attempt_at=timezone.now())


# --- Ops actions --------------------------------------------------------------------------------


def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (same webhook-id and payload)."""
    with transaction.atomic():
        holding = _integration_is_holding(delivery.integration_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.HELD if holding else DeliveryState.PENDING,
            schedule_position=0,
            next_attempt_at=timezone.now(),
            completed_at=None,
            claim_token=None,
            claimed_until=None,
        )
        if not holding:
            transaction.on_commit(lambda: _queue_send(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def delivery_cancel(*, delivery: WebhookDelivery, reason: str = "") -> bool:
    """Stop a pending or held delivery; sent or finished ones are left as they are.
    ``reason``, if given, is kept as its last error for ops to read."""
    changes = {"state": DeliveryState.CANCELLED, "next_attempt_at": None}
    if reason:
        changes["last_error"] = reason
    cancelled = WebhookDelivery.objects.filter(
        pk=delivery.pk, state__in=(DeliveryState.PENDING, DeliveryState.HELD)
    ).update(**changes, completed_at=timezone.now())
    delivery.refresh_from_db()
    return bool(cancelled)


def deliveries_replay_failed(
    *, integration: PartnerIntegration, created_from: datetime, created_to: datetime
) -> int:
    """Replay every failed delivery of ``integration`` created in [from, to]."""
    failed = WebhookDelivery.objects.filter(
        integration=integration,
        state=DeliveryState.FAILED,
        created_at__gte=created_from,
        created_at__lte=created_to,
    ).order_by("created_at", "sequence")
    count = 0
    for delivery in failed:
        delivery_replay(delivery=delivery)
        count += 1
    return count


@dataclass
class TestWebhookResult:
    ok: bool
    message: str
    delivery: WebhookDelivery | None = None


def delivery_send_test(*, integration: PartnerIntegration) -> TestWebhookResult:
    """Send a signed ``ping`` to the integration's webhook URL now and report the result."""
    if not integration.webhook_url:
        return TestWebhookResult(False, "The integration has no webhook URL.")
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        integration=integration,
        event=PING_EVENT,
        payload={
            "type": PING_EVENT,
            "timestamp": _iso(now),
            "data": {"integration": integration.integration_name, "message": "Test webhook"},
        },
        next_attempt_at=None,
    )
    batch = _send_all([delivery], integration=integration, token=None)
    result = batch.results[0][1]
    delivery.refresh_from_db()
    where = redact_url(integration.webhook_url)
    if result.succeeded:
        return TestWebhookResult(
            True,
            f"Test webhook to {where} answered {result.status_code} in {result.duration_ms} ms.",
            delivery,
        )
    detail = result.summary
    if result.response_excerpt:
        detail += f" — response: {result.response_excerpt[:200]}"
    return TestWebhookResult(False, f"Test webhook to {where} failed: {detail}", delivery)
