"""The partner API's actions: parse the body, validate it, call one service, shape the answer.

Each handler runs inside ``inbound_request_process``'s transaction and answers a
``Result``. A refusal is raised as a ProblemError, so nothing the handler did is kept; the
services' own errors are answered here as the problem documents partners read.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

from chargecars.wire import rfc3339, strict_json_loads
from integrations.api.partner_orders import (
    InvalidFields,
    OrderNotFound,
    PartnerOrderError,
    TransitionRefused,
    UnknownPartnerStatus,
    partner_order_create,
    partner_order_get,
    partner_status_update,
)
from integrations.api.problems import ProblemError, validation_problem
from integrations.api.serializers import (
    OrderCreateRequestSerializer,
    StatusUpdateRequestSerializer,
    order_representation,
    validated,
)
from integrations.models import InboundEvent, PartnerIntegration
from orders.models import Order

Outcome = InboundEvent.Outcome
Action = InboundEvent.Action


@dataclass
class Result:
    """What a handler made of a request: the event's outcome and the answer to send."""

    outcome: str
    status: int
    body: dict
    order: Order | None = None


def _json_object(body: bytes) -> dict:
    try:
        # A key given twice keeps its last value, as partners have always been answered.
        data = strict_json_loads(body, allow_duplicate_keys=True)
    except (ValueError, RecursionError) as exc:
        raise ProblemError("malformed-json", f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProblemError("malformed-json", "The body must be a JSON object.")
    return data


def _problem_for(error: PartnerOrderError) -> ProblemError:
    """The problem document that answers a service's refusal."""
    if isinstance(error, InvalidFields):
        return validation_problem(error.errors, summary=error.summary)
    if isinstance(error, UnknownPartnerStatus):
        return ProblemError(
            "unknown-partner-status",
            str(error),
            errors={"status": [f"Unknown status {error.status!r}."]},
            allowed_statuses=error.allowed_statuses,
        )
    if isinstance(error, TransitionRefused):
        return ProblemError(
            "transition-refused",
            str(error),
            current_status=error.current_status,
            allowed_statuses=error.allowed_statuses,
        )
    if isinstance(error, OrderNotFound):
        return ProblemError("not-found", str(error))
    raise TypeError(f"No problem document for {type(error).__name__}.")


def _refusals_answered(handler: Callable[..., Result]) -> Callable[..., Result]:
    """The handler, with the service's refusals raised as their problem documents."""

    @functools.wraps(handler)
    def handle(**kwargs) -> Result:
        try:
            return handler(**kwargs)
        except PartnerOrderError as error:
            problem = _problem_for(error)
            problem.refusal = error  # for what happens once the refusal is stored
            raise problem from None

    return handle


# Every handler takes the same keyword arguments: the integration, the raw body, the
# partner order id from the URL, the event being recorded, and whether this is the retry
# after losing a race.


@_refusals_answered
def _order_create(
    *,
    integration: PartnerIntegration,
    body: bytes,
    partner_order_id: str,
    event: InboundEvent,
    retry: bool,
) -> Result:
    data = validated(OrderCreateRequestSerializer, _json_object(body))
    event.partner_order_id = data["partner_order_id"]
    order, created = partner_order_create(
        integration=integration,
        data=data,
        inbound_event=event,
        savepoint=False,
        existing_first=retry,
    )
    return Result(
        outcome=Outcome.CREATED if created else Outcome.EXISTING,
        status=201 if created else 200,
        body=order_representation(order, integration),
        order=order,
    )


@_refusals_answered
def _status_update(
    *,
    integration: PartnerIntegration,
    body: bytes,
    partner_order_id: str,
    event: InboundEvent,
    retry: bool,
) -> Result:
    data = validated(StatusUpdateRequestSerializer, _json_object(body))
    order, outcome = partner_status_update(
        integration=integration,
        partner_order_id=partner_order_id,
        status=data["status"],
        occurred_at=data["occurred_at"],
        note=data.get("note", ""),
        inbound_event=event,
        savepoint=False,
    )
    if outcome == Outcome.APPLIED:
        detail = f"Status {data['status']} applied."
    elif outcome == Outcome.UNCHANGED:
        current = integration.partner_status_for(order.status)
        detail = f"Unchanged: the order is already {current!r}; nothing to apply."
    else:
        detail = (
            f"Ignored: occurred_at {rfc3339(data['occurred_at'])} is older than the last "
            f"update recorded ({rfc3339(order.partner_status_occurred_at)})."
        )
    return Result(
        outcome=outcome,
        status=200,
        body={
            "applied": outcome == Outcome.APPLIED,
            "outcome": str(outcome),
            "detail": detail,
            "order": order_representation(order, integration),
        },
        order=order,
    )


@_refusals_answered
def _order_read(
    *,
    integration: PartnerIntegration,
    body: bytes,
    partner_order_id: str,
    event: InboundEvent,
    retry: bool,
) -> Result:
    order = partner_order_get(integration=integration, partner_order_id=partner_order_id)
    return Result(
        outcome=Outcome.READ,
        status=200,
        body=order_representation(order, integration),
        order=order,
    )


ACTION_HANDLERS: dict[str, Callable[..., Result]] = {
    Action.ORDER_CREATE: _order_create,
    Action.STATUS_UPDATE: _status_update,
    Action.ORDER_READ: _order_read,
}
