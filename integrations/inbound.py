"""The partner API's services: createOrderFromPartner, processPartnerStatusUpdate, audit.

Every request that reaches a known integration is stored as an ``InboundEvent``. A
verified request is applied by ``inbound_request_process`` in one transaction that ends
by inserting its event; the unique (integration, webhook-id) constraint on that insert
is the idempotency guard, so a repeated or concurrent duplicate rolls back whatever it
did and is answered with the first response instead.
"""

import functools
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models.fields.json import KT
from django.db.models.lookups import Exact
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from chargecars.rows import row_insert, row_load, row_update
from integrations.api.errors import ProblemError, validation_problem
from integrations.api.serializers import (
    ORDER_FIELDS,
    PARTNER_ORDER_ID_PATTERN,
    REFERENCE_FIELDS,
    OrderCreateRequestSerializer,
    StatusUpdateRequestSerializer,
    order_representation,
)
from integrations.models import InboundEvent, PartnerIntegration, RetiredWebhookSecret
from orders.models import Order, StatusChangeSource
from orders.services import InvalidTransition, order_change_status, order_create

logger = logging.getLogger(__name__)

PARTNER_ORDER_ID_RE = re.compile(PARTNER_ORDER_ID_PATTERN)

Outcome = InboundEvent.Outcome
Action = InboundEvent.Action

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


@dataclass
class Result:
    outcome: str
    status: int
    body: dict
    order: Order | None = None


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
    for attempt in (1, 2):
        try:
            # Any error rolls this whole transaction back, so the services skip their
            # savepoints (two round trips each on the hot path).
            with transaction.atomic():
                result = handler(request=request, event=event, retry=attempt > 1)
                event.outcome, event.response_status = result.outcome, result.status
                event.response_body, event.order = result.body, result.order
                row_insert(event)
            return event
        except ProblemError as problem:
            _fill_from_problem(event, problem)
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
        return event
    except IntegrityError:
        if kind == InboundEvent.Kind.REQUEST and (found := _original_for(request)):
            return _record_duplicate(request, found)
        raise


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


# --- Integration lookup ------------------------------------------------------------------------

# integration_name -> (expires at, integration): saves a query per request. Saving an
# integration or retiring a secret clears it in this process; other processes see the
# change within PARTNER_API_INTEGRATION_CACHE_SECONDS, and a signature that does not match
# the cached secrets is always checked again against the database.
_integration_cache: dict[str, tuple[float, PartnerIntegration]] = {}


def integration_for_api(name: str, *, fresh: bool = False) -> PartnerIntegration | None:
    ttl = settings.PARTNER_API_INTEGRATION_CACHE_SECONDS
    now = time.monotonic()
    if ttl and not fresh and (hit := _integration_cache.get(name)) and hit[0] > now:
        return hit[1]
    # The partner's API credentials are not needed to answer it: not decrypted here.
    integration = (
        PartnerIntegration.objects.defer("api_credentials").filter(integration_name=name).first()
    )
    if ttl and integration is not None:
        _integration_cache[name] = (now + ttl, integration)
    else:
        _integration_cache.pop(name, None)
    return integration


def integration_cache_clear(**kwargs) -> None:
    _integration_cache.clear()


post_save.connect(integration_cache_clear, sender=PartnerIntegration)
post_delete.connect(integration_cache_clear, sender=PartnerIntegration)
post_save.connect(integration_cache_clear, sender=RetiredWebhookSecret)


# --- Parsing ----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    if math.isinf(value := float(text)):
        raise ValueError(f"{text} is too large for a number")
    return value


def _json_object(request: InboundRequest) -> dict:
    try:
        data = json.loads(request.body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise ProblemError("malformed-json", f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProblemError("malformed-json", "The body must be a JSON object.")
    return data


_serializers = threading.local()


def _validated(serializer_class, data: dict) -> dict:
    """Validate with a serializer instance reused per thread.

    DRF deep-copies every declared field for each new serializer instance, which was the
    largest CPU cost of a request; validation itself keeps no state between calls.
    """
    serializer = _serializers.__dict__.get(serializer_class)
    if serializer is None:
        serializer = _serializers.__dict__[serializer_class] = serializer_class()
    for attribute in ("_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(attribute, None)
    serializer.initial_data = data
    if not serializer.is_valid():
        raise validation_problem(serializer.errors)
    return serializer.validated_data


_INTEGRATION_PLACEHOLDER = uuid.UUID(int=0)
_PARTNER_ORDER_ID_PLACEHOLDER = "\x00partner_order_id"


@dataclass(frozen=True)
class _Argument:
    name: str


@functools.cache
def _order_for_partner_sql(alias: str, vendor: str, lock: bool) -> tuple[str, tuple]:
    """The lookup's SQL, compiled once per database, and which argument each parameter is.

    Building and compiling this queryset cost more CPU than running it (about a quarter
    of a status update), and the SQL never changes: only the two values do.
    """
    # Exact(KT(...)) compiles to the indexed expression (->> on PostgreSQL); the usual
    # JSON key lookup would compare jsonb values and miss the index.
    orders = Order.objects.using(alias).filter(
        Exact(KT("partner_external_references__partner_order_id"), _PARTNER_ORDER_ID_PLACEHOLDER),
        source_integration_id=_INTEGRATION_PLACEHOLDER,
    )
    if lock:
        orders = orders.select_for_update()
    sql, params = orders[:1].query.sql_with_params()
    arguments = {
        _PARTNER_ORDER_ID_PLACEHOLDER: _Argument("partner_order_id"),
        str(_INTEGRATION_PLACEHOLDER): _Argument("integration_id"),
        _INTEGRATION_PLACEHOLDER.hex: _Argument("integration_id"),
    }
    return sql, tuple(arguments.get(str(param), param) for param in params)


def order_for_partner(
    *, integration: PartnerIntegration, partner_order_id: str, lock: bool = False
) -> Order | None:
    """The integration's order with this partner order id (uses the expression index)."""
    if not PARTNER_ORDER_ID_RE.match(partner_order_id):
        return None  # creation refuses such ids, so no order has one
    connection = connections[DEFAULT_DB_ALIAS]
    sql, params = _order_for_partner_sql(DEFAULT_DB_ALIAS, connection.vendor, lock)
    integration_id = Order._meta.get_field("source_integration").get_db_prep_value(
        integration.pk, connection
    )
    values = {"partner_order_id": partner_order_id, "integration_id": integration_id}
    params = [values[p.name] if isinstance(p, _Argument) else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row_load(Order, row) if row is not None else None


def _not_found(partner_order_id: str) -> ProblemError:
    return ProblemError(
        "not-found", f"This integration has no order with partner_order_id {partner_order_id!r}."
    )


# --- createOrderFromPartner ---------------------------------------------------------------


def partner_order_create(
    *,
    integration: PartnerIntegration,
    data: dict,
    inbound_event: InboundEvent | None = None,
    savepoint: bool = True,
    existing_first: bool = False,
) -> tuple[Order, bool]:
    """createOrderFromPartner: a new order in status ``new``, or the existing one.

    Returns (order, created). The (integration, partner_order_id) constraint decides
    between concurrent creates. With ``savepoint`` (the default) the loser returns the
    winner's order; without it the IntegrityError propagates and the caller retries in
    a new transaction with ``existing_first=True``, which looks the order up first.
    """
    if existing_first and (
        existing := order_for_partner(
            integration=integration, partner_order_id=data["partner_order_id"]
        )
    ):
        return existing, False
    received = inbound_event.received_at if inbound_event else timezone.now()
    references = {"partner_order_id": data["partner_order_id"]}
    references.update({key: data[key] for key in REFERENCE_FIELDS if data.get(key)})
    references.setdefault("partner_system", integration.integration_name)
    references["sync_last_updated"] = _iso(received)
    fields = {key: data[key] for key in ORDER_FIELDS if key in data}
    try:
        order = order_create(
            source=StatusChangeSource.PARTNER,
            integration=integration,
            inbound_event=inbound_event,
            note="Created by the partner API.",
            partner_external_references=references,
            savepoint=savepoint,
            **fields,
        )
    except IntegrityError:
        if not savepoint:
            raise
        existing = order_for_partner(
            integration=integration, partner_order_id=data["partner_order_id"]
        )
        if existing is None:
            raise
        return existing, False
    return order, True


def _handle_order_create(*, request: InboundRequest, event: InboundEvent, retry: bool) -> Result:
    data = _validated(OrderCreateRequestSerializer, _json_object(request))
    event.partner_order_id = data["partner_order_id"]
    try:
        order, created = partner_order_create(
            integration=request.integration,
            data=data,
            inbound_event=event,
            savepoint=False,
            existing_first=retry,
        )
    except ValidationError as exc:
        raise validation_problem(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        ) from None
    return Result(
        outcome=Outcome.CREATED if created else Outcome.EXISTING,
        status=201 if created else 200,
        body=order_representation(order, request.integration),
        order=order,
    )


# --- processPartnerStatusUpdate -------------------------------------------------------------


def partner_status_update(
    *,
    integration: PartnerIntegration,
    partner_order_id: str,
    status: str,
    occurred_at: datetime,
    note: str = "",
    inbound_event: InboundEvent | None = None,
    savepoint: bool = True,
) -> tuple[Order, str]:
    """processPartnerStatusUpdate: apply a status in the partner's vocabulary.

    Returns (order, outcome): ``applied``; ``unchanged`` when the order already has that
    status (a partner repeating itself, or two partner statuses mapped to one of ours),
    which records the update's time and changes nothing else; ``stale`` for an update
    older than the last one recorded, which is ignored so out-of-order delivery cannot
    move an order backwards. Raises ProblemError for unknown statuses, unknown orders and
    transitions the status engine refuses.
    """
    to_status = integration.chargecars_status_for(status)
    if to_status is None:
        accepted = sorted((integration.status_mapping or {}).get("partner_to_chargecars", {}))
        raise ProblemError(
            "unknown-partner-status",
            f"{status!r} is not a status this integration accepts. Accepted: "
            f"{', '.join(accepted) or '(none configured; ask ChargeCars)'}.",
            errors={"status": [f"Unknown status {status!r}."]},
            allowed_statuses=accepted,
        )
    if occurred_at > timezone.now() + timedelta(minutes=5):
        raise ProblemError(
            "validation-error",
            "occurred_at is in the future.",
            errors={"occurred_at": ["Must not be more than 5 minutes in the future."]},
        )
    order = order_for_partner(integration=integration, partner_order_id=partner_order_id, lock=True)
    if order is None:
        raise _not_found(partner_order_id)
    last = order.partner_status_occurred_at
    if last is not None and occurred_at < last:
        return order, Outcome.STALE
    received = inbound_event.received_at if inbound_event else timezone.now()
    order.partner_status_occurred_at = occurred_at
    order.partner_external_references = {
        **order.partner_external_references,
        "sync_last_updated": _iso(received),
    }
    if to_status == order.status:
        # Not a transition: nothing for the status engine or the history. The time is
        # kept so an older update arriving later is recognised as stale.
        row_update(order, ("partner_status_occurred_at", "partner_external_references"))
        return order, Outcome.UNCHANGED
    try:
        order_change_status(
            order=order,
            to_status=to_status,
            source=StatusChangeSource.PARTNER,
            integration=integration,
            note=note or f"Partner status {status}.",
            inbound_event=inbound_event,
            order_is_locked=True,
            also_update_fields=("partner_status_occurred_at", "partner_external_references"),
            savepoint=savepoint,
        )
    except InvalidTransition as exc:
        theirs = integration.partner_status_for
        inverse = (integration.status_mapping or {}).get("partner_to_chargecars", {})
        allowed = sorted(p for p, ours in inverse.items() if ours in exc.allowed)
        raise ProblemError(
            "transition-refused",
            f"The order is {theirs(exc.current_status)!r} and cannot move to {status!r}. "
            f"Allowed next: {', '.join(allowed) or 'none (the order is final)'}.",
            current_status=theirs(exc.current_status),
            allowed_statuses=allowed,
        ) from None
    return order, Outcome.APPLIED


def _handle_status_update(*, request: InboundRequest, event: InboundEvent, retry: bool) -> Result:
    data = _validated(StatusUpdateRequestSerializer, _json_object(request))
    order, outcome = partner_status_update(
        integration=request.integration,
        partner_order_id=request.partner_order_id,
        status=data["status"],
        occurred_at=data["occurred_at"],
        note=data.get("note", ""),
        inbound_event=event,
        savepoint=False,
    )
    if outcome == Outcome.APPLIED:
        detail = f"Status {data['status']} applied."
    elif outcome == Outcome.UNCHANGED:
        current = request.integration.partner_status_for(order.status)
        detail = f"Unchanged: the order is already {current!r}; nothing to apply."
    else:
        detail = (
            f"Ignored: occurred_at {_iso(data['occurred_at'])} is older than the last "
            f"update recorded ({_iso(order.partner_status_occurred_at)})."
        )
    return Result(
        outcome=outcome,
        status=200,
        body={
            "applied": outcome == Outcome.APPLIED,
            "outcome": str(outcome),
            "detail": detail,
            "order": order_representation(order, request.integration),
        },
        order=order,
    )


def _handle_order_read(*, request: InboundRequest, event: InboundEvent, retry: bool) -> Result:
    order = order_for_partner(
        integration=request.integration, partner_order_id=request.partner_order_id
    )
    if order is None:
        raise _not_found(request.partner_order_id)
    return Result(
        outcome=Outcome.READ,
        status=200,
        body=order_representation(order, request.integration),
        order=order,
    )


ACTION_HANDLERS: dict[str, Callable[..., Result]] = {
    Action.ORDER_CREATE: _handle_order_create,
    Action.STATUS_UPDATE: _handle_status_update,
    Action.ORDER_READ: _handle_order_read,
}
