"""The partner API's inbound request service: the audit record and applying a request once.

Every request that reaches a known integration is stored as an ``InboundEvent``. A
verified request is applied by ``inbound_request_process`` in one transaction that ends
by inserting its event; the unique (integration, webhook-id) constraint on that insert
is the idempotency guard, so a repeated or concurrent duplicate rolls back whatever it
did and is answered with the first response instead.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from chargecars.rows import row_insert
from integrations.api.handlers import ACTION_HANDLERS
from integrations.api.partner_orders import TransitionRefused, partner_status_refused
from integrations.api.problems import ProblemError
from integrations.models import InboundEvent, PartnerIntegration

Outcome = InboundEvent.Outcome

# Headers never stored with an event: credentials by name (authorization, cookies, API
# keys, tokens, secrets, passwords), whatever a partner's HTTP stack adds.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# "key" as a word of the name: Ocp-Apim-Subscription-Key, X-Functions-Key, X-Access-Key.
_SECRET_HEADER_NAME = re.compile(
    r"auth|api[-_]?key|token|secret|passw|cookie|session|credential|(?<![a-z])key(?![a-z])"
)
# Names that match the pattern above but hold no credential.
_NOT_SECRET_HEADERS = frozenset({"idempotency-key"})


@dataclass
class InboundRequest:
    """A request to the partner API as received (before or after verification)."""

    integration: PartnerIntegration
    action: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    remote_addr: str | None = None
    partner_order_id: str = ""
    received_at: datetime = field(default_factory=timezone.now)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")[:255]


def _text(value: str, limit: int | None = None) -> str:
    """Text safe to store: PostgreSQL refuses NUL characters and lone surrogates (which
    JSON escapes such as "\\ud800" decode to) in text and jsonb."""
    value = value[:limit] if limit else value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", errors="replace").decode("utf-8")
    return value.replace("\x00", "\ufffd")


def _json_safe(value):
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def headers_sanitised(headers) -> dict[str, str]:
    """Request headers fit for the audit log: no credentials, signatures summarised."""
    clean = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SECRET_HEADERS or (
            _SECRET_HEADER_NAME.search(lower) and lower not in _NOT_SECRET_HEADERS
        ):
            continue
        if lower == "webhook-signature":
            value = f"<{len(value.split(' '))} signature(s), not stored>"
        clean[_text(lower)] = _text(value, 500)
    return clean


def _event_for(request: InboundRequest, **fields) -> InboundEvent:
    # Anyone who knows an integration's name can send unsigned requests, and each one is
    # stored: keep little of a body nobody vouched for.
    verified = fields.get("signature_verdict") == InboundEvent.Verdict.VALID
    cap = (
        settings.PARTNER_API_EVENT_BODY_CAP
        if verified
        else min(settings.PARTNER_API_EVENT_BODY_CAP, settings.PARTNER_API_UNVERIFIED_BODY_CAP)
    )
    body = _text(request.body[:cap].decode("utf-8", errors="replace"))
    return InboundEvent(
        integration=request.integration,
        action=request.action,
        webhook_id=_text(request.webhook_id),
        received_at=request.received_at,
        remote_addr=request.remote_addr,
        method=_text(request.method, 10),
        path=_text(request.path, 500),
        headers=request.headers,
        body=body,
        body_truncated=len(request.body) > cap,
        partner_order_id=_text(request.partner_order_id, 100),
        **fields,
    )


def _fill_from_problem(event: InboundEvent, problem: ProblemError) -> None:
    event.outcome = Outcome.REJECTED
    event.response_status = problem.status
    event.response_body = _json_safe(problem.as_dict())
    event.error = _text(problem.detail, 2000)


@transaction.atomic
def inbound_event_record_refusal(
    *, request: InboundRequest, verdict: str, outcome: str, problem: ProblemError
) -> InboundEvent:
    """Store a request refused before it was applied (disabled, bad signature, rate limit)."""
    event = _event_for(request, signature_verdict=verdict)
    _fill_from_problem(event, problem)
    event.outcome = outcome
    row_insert(event)
    return event


def _original_for(request: InboundRequest) -> InboundEvent | None:
    return (
        InboundEvent.objects.filter(
            integration=request.integration,
            webhook_id=request.webhook_id,
            kind=InboundEvent.Kind.REQUEST,
            signature_verdict=InboundEvent.Verdict.VALID,
        )
        .exclude(outcome=Outcome.RATE_LIMITED)
        .first()
    )


def _record_duplicate(request: InboundRequest, original: InboundEvent) -> InboundEvent:
    event = _event_for(
        request,
        kind=InboundEvent.Kind.DUPLICATE,
        original=original,
        signature_verdict=InboundEvent.Verdict.VALID,
        outcome=Outcome.REPLAYED,
        response_status=original.response_status,
        response_body=original.response_body,
        order_id=original.order_id,
    )
    if event.body != original.body:
        event.error = "Repeated webhook-id with a different body; answered with the original."
    row_insert(event)
    return event


def inbound_request_process(
    *,
    request: InboundRequest,
    kind: str = InboundEvent.Kind.REQUEST,
    original: InboundEvent | None = None,
) -> InboundEvent:
    """Apply a verified request at most once and store it; returns its event.

    The event carries the HTTP answer (``response_status``, ``response_body``). A
    webhook-id seen before for this integration is answered from the first event.
    """
    handler = ACTION_HANDLERS[request.action]
    event = _event_for(
        request, kind=kind, original=original, signature_verdict=InboundEvent.Verdict.VALID
    )
    refusal = None
    for attempt in (1, 2):
        try:
            # Any error rolls this whole transaction back, so the services skip their
            # savepoints (two round trips each on the hot path).
            with transaction.atomic():
                result = handler(
                    integration=request.integration,
                    body=request.body,
                    partner_order_id=request.partner_order_id,
                    event=event,
                    retry=attempt > 1,
                )
                event.outcome, event.response_status = result.outcome, result.status
                event.response_body, event.order = result.body, result.order
                row_insert(event)
            return event
        except ProblemError as problem:
            _fill_from_problem(event, problem)
            refusal = problem.refusal
            break
        except IntegrityError:
            # Either the event insert lost to an earlier or concurrent request with this
            # webhook-id, or the order insert lost to a concurrent create of the same
            # partner order. Everything this attempt did has been rolled back.
            if kind == InboundEvent.Kind.REQUEST and (found := _original_for(request)):
                return _record_duplicate(request, found)
            if attempt == 2:
                raise
    # Refused input is stored (and idempotent) too, in its own transaction.
    try:
        with transaction.atomic():
            row_insert(event)
    except IntegrityError:
        if kind == InboundEvent.Kind.REQUEST and (found := _original_for(request)):
            return _record_duplicate(request, found)
        raise
    if isinstance(refusal, TransitionRefused):
        # The partner and we disagree on where the order is (the drift report keeps it).
        partner_status_refused.send(
            sender=TransitionRefused, integration=request.integration, refusal=refusal
        )
    return event


@transaction.atomic
def inbound_event_reprocess(*, event: InboundEvent) -> InboundEvent:
    """Staff re-processing: apply a stored, verified request again as a new event.

    Creates are idempotent by partner order id, and status updates go through the same
    checks as the first time, so nothing is applied twice.
    """
    if event.signature_verdict != InboundEvent.Verdict.VALID:
        raise ValidationError("Only requests with a valid signature can be re-processed.")
    if event.body_truncated:
        raise ValidationError("The stored body was truncated; it cannot be re-processed.")
    source = event.original if event.kind != InboundEvent.Kind.REQUEST else event
    request = InboundRequest(
        integration=event.integration,
        action=event.action,
        method=event.method,
        path=event.path,
        headers=event.headers,
        body=event.body.encode("utf-8"),
        remote_addr=None,
        partner_order_id=event.partner_order_id,
    )
    return inbound_request_process(
        request=request, kind=InboundEvent.Kind.REPROCESS, original=source or event
    )
