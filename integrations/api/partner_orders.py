"""Partner orders: createOrderFromPartner and processPartnerStatusUpdate, over the status engine.

Plain services, without HTTP: the partner API calls them and answers their errors as
problem documents (``handlers``), and anything else that applies a partner's orders and
statuses can call them the same way. Each refusal is its own error class carrying what a
caller needs to act on it (accepted statuses, the order's current status, messages per
field), so "the status engine refuses this move" can be told from "we do not know this
status" without reading any text.
"""

import re
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.dispatch import Signal
from django.utils import timezone

from chargecars.rows import row_update
from chargecars.wire import rfc3339
from integrations.models import InboundEvent, PartnerIntegration
from orders.models import ORDER_DETAIL_FIELDS, PARTNER_REFERENCE_KEYS, Order, StatusChangeSource
from orders.selectors import order_for_partner
from orders.services import InvalidTransition, order_change_status, order_create

Outcome = InboundEvent.Outcome

# The partner order ids the partner API accepts when it creates an order (they appear in
# URLs). Creation refuses any other id, so no order has one.
PARTNER_ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$"
_PARTNER_ORDER_ID_RE = re.compile(PARTNER_ORDER_ID_PATTERN)

# Partner references the source document lists, other than the two we set ourselves.
REFERENCE_FIELDS = tuple(
    key for key in PARTNER_REFERENCE_KEYS if key not in ("partner_order_id", "sync_last_updated")
)


# Sent once a partner's status the status engine refused (TransitionRefused) is final, i.e.
# after the partner API stored its refusal; arguments: integration, refusal. The sync records
# it in the drift report (it applies its own refusals directly).
partner_status_refused = Signal()


# --- Errors ----------------------------------------------------------------------------------


class PartnerOrderError(Exception):
    """A partner's order or status update refused; nothing of it was applied."""


class OrderNotFound(PartnerOrderError):
    def __init__(self, partner_order_id: str):
        super().__init__(
            f"This integration has no order with partner_order_id {partner_order_id!r}."
        )
        self.partner_order_id = partner_order_id


class UnknownPartnerStatus(PartnerOrderError):
    """A status the integration's status_mapping does not translate into ours.

    ``allowed_statuses``: the partner statuses it does translate.
    """

    def __init__(self, *, status: str, allowed_statuses: list[str]):
        super().__init__(
            f"{status!r} is not a status this integration accepts. Accepted: "
            f"{', '.join(allowed_statuses) or '(none configured; ask ChargeCars)'}."
        )
        self.status = status
        self.allowed_statuses = allowed_statuses


class TransitionRefused(PartnerOrderError):
    """A known status the status engine refuses from the order's current one.

    The partner and we disagree on where the order is. ``current_status`` and
    ``allowed_statuses`` (where it may move next) are in the partner's vocabulary.
    """

    def __init__(
        self,
        *,
        status: str,
        current_status: str,
        allowed_statuses: list[str],
        order: Order | None = None,
        occurred_at: datetime | None = None,
    ):
        super().__init__(
            f"The order is {current_status!r} and cannot move to {status!r}. "
            f"Allowed next: {', '.join(allowed_statuses) or 'none (the order is final)'}."
        )
        self.status = status
        self.current_status = current_status
        self.allowed_statuses = allowed_statuses
        # The order as it was (nothing of the update was applied) and the partner's time.
        self.order = order
        self.occurred_at = occurred_at


class InvalidFields(PartnerOrderError):
    """Values refused: ``errors`` has the messages per field, ``summary`` the reason when
    there is one (else empty)."""

    def __init__(self, errors: dict[str, list[str]], *, summary: str = ""):
        super().__init__(summary or f"Invalid fields: {', '.join(errors)}.")
        self.errors = errors
        self.summary = summary


# --- Lookup ------------------------------------------------------------------------------------


def _order_for(
    integration: PartnerIntegration, partner_order_id: str, *, lock: bool = False
) -> Order | None:
    if not _PARTNER_ORDER_ID_RE.match(partner_order_id):
        return None  # creation refuses such ids, so no order has one
    return order_for_partner(
        integration_id=integration.pk, partner_order_id=partner_order_id, lock=lock
    )


def partner_order_get(*, integration: PartnerIntegration, partner_order_id: str) -> Order:
    """The integration's order with this partner order id; raises OrderNotFound."""
    order = _order_for(integration, partner_order_id)
    if order is None:
        raise OrderNotFound(partner_order_id)
    return order


# --- createOrderFromPartner ---------------------------------------------------------------


def partner_order_create(
    *,
    integration: PartnerIntegration,
    data: dict,
    inbound_event: InboundEvent | None = None,
    savepoint: bool = True,
    existing_first: bool = False,
    source: str = StatusChangeSource.PARTNER,
    note: str = "Created by the partner API.",
    occurred_at: datetime | None = None,
) -> tuple[Order, bool]:
    """createOrderFromPartner: a new order in status ``new``, or the existing one.

    Returns (order, created). The (integration, partner_order_id) constraint decides
    between concurrent creates. With ``savepoint`` (the default) the loser returns the
    winner's order; without it the IntegrityError propagates and the caller retries in
    a new transaction with ``existing_first=True``, which looks the order up first.
    ``source`` and ``note`` go to the history (a sync passes its own); ``occurred_at``, the
    partner's time of the order's status when it is known (a pulled record's updated_at),
    is recorded as for a status update, so older updates are recognised as stale.
    Raises InvalidFields for values the order model refuses.
    """
    if existing_first and (existing := _order_for(integration, data["partner_order_id"])):
        return existing, False
    received = inbound_event.received_at if inbound_event else timezone.now()
    references = {"partner_order_id": data["partner_order_id"]}
    references.update({key: data[key] for key in REFERENCE_FIELDS if data.get(key)})
    references.setdefault("partner_system", integration.integration_name)
    references["sync_last_updated"] = rfc3339(received)
    fields = {key: data[key] for key in ORDER_DETAIL_FIELDS if key in data}
    if occurred_at is not None:
        fields["partner_status_occurred_at"] = occurred_at
    try:
        order = order_create(
            source=source,
            integration=integration,
            inbound_event=inbound_event,
            note=note,
            partner_external_references=references,
            savepoint=savepoint,
            **fields,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"body": exc.messages}
        raise InvalidFields(errors) from None
    except IntegrityError:
        if not savepoint:
            raise
        existing = _order_for(integration, data["partner_order_id"])
        if existing is None:
            raise
        return existing, False
    return order, True


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
    source: str = StatusChangeSource.PARTNER,
    references: dict[str, str] | None = None,
    locked_order: Order | None = None,
) -> tuple[Order, str]:
    """processPartnerStatusUpdate: apply a status in the partner's vocabulary.

    Returns (order, outcome): ``applied``; ``unchanged`` when the order already has that
    status (a partner repeating itself, or two partner statuses mapped to one of ours),
    which records the update's time and changes nothing else; ``stale`` for an update
    older than the last one recorded, which is ignored so out-of-order delivery cannot
    move an order backwards. ``source`` goes to the history (a sync passes its own), and
    ``references`` (partner references to set) are written with the status, unless stale.
    ``locked_order``: the order, when the caller already holds its row lock in this
    transaction (saves looking it up again).
    Raises UnknownPartnerStatus, InvalidFields (occurred_at in the future), OrderNotFound,
    and TransitionRefused when the status engine refuses.
    """
    to_status = _status_known(integration, status)
    _not_in_future(occurred_at)
    order = locked_order or _order_for(integration, partner_order_id, lock=True)
    if order is None:
        raise OrderNotFound(partner_order_id)
    last = order.partner_status_occurred_at
    if last is not None and occurred_at < last:
        return order, Outcome.STALE
    received = inbound_event.received_at if inbound_event else timezone.now()
    previous = order.partner_status_occurred_at, order.partner_external_references
    order.partner_status_occurred_at = occurred_at
    order.partner_external_references = {
        **order.partner_external_references,
        **(references or {}),
        "sync_last_updated": rfc3339(received),
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
            source=source,
            integration=integration,
            note=note or f"Partner status {status}.",
            inbound_event=inbound_event,
            order_is_locked=True,
            also_update_fields=("partner_status_occurred_at", "partner_external_references"),
            savepoint=savepoint,
        )
    except InvalidTransition as exc:
        # Nothing was applied: the order is left as it was read.
        order.partner_status_occurred_at, order.partner_external_references = previous
        raise _transition_refused(integration, status, exc, order, occurred_at) from None
    return order, Outcome.APPLIED


def _status_known(integration: PartnerIntegration, status: str) -> str:
    """Our status for the partner's; raises UnknownPartnerStatus."""
    to_status = integration.chargecars_status_for(status)
    if to_status is None:
        accepted = sorted((integration.status_mapping or {}).get("partner_to_chargecars", {}))
        raise UnknownPartnerStatus(status=status, allowed_statuses=accepted)
    return to_status


def _not_in_future(occurred_at: datetime) -> None:
    if occurred_at > timezone.now() + timedelta(minutes=5):
        raise InvalidFields(
            {"occurred_at": ["Must not be more than 5 minutes in the future."]},
            summary="occurred_at is in the future.",
        )


def _transition_refused(
    integration: PartnerIntegration,
    status: str,
    exc: InvalidTransition,
    order: Order,
    occurred_at: datetime,
) -> TransitionRefused:
    """The status engine's refusal in the partner's vocabulary."""
    inverse = (integration.status_mapping or {}).get("partner_to_chargecars", {})
    return TransitionRefused(
        status=status,
        current_status=integration.partner_status_for(exc.current_status),
        allowed_statuses=sorted(p for p, ours in inverse.items() if ours in exc.allowed),
        order=order,
        occurred_at=occurred_at,
    )
