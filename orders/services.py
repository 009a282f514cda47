"""The status engine: the only code that creates orders and changes their status."""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from chargecars.rows import row_insert, row_update
from orders.models import Order, OrderNumber, OrderStatusChange, StatusChangeSource
from orders.signals import order_status_changed
from orders.status import OrderStatus, allowed_next_statuses


class InvalidTransition(ValidationError):
    def __init__(self, *, order: Order, to_status: str):
        self.current_status = order.status
        self.to_status = to_status
        self.allowed = allowed_next_statuses(order.status)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none (it is final)"
        super().__init__(
            f"Order {order.order_number} is '{order.status}' and cannot move to "
            f"'{to_status}'. Allowed next statuses: {allowed_text}.",
            code="invalid_transition",
        )


def order_number_next() -> str:
    sequence = row_insert(OrderNumber())
    return f"CC-{timezone.now().year}-{sequence.pk:06d}"


def _database_numbers_orders() -> bool:
    """PostgreSQL fills in ``order_number`` in the INSERT (``NextOrderNumber``)."""
    return connection.vendor == "postgresql"


def order_create(
    *,
    source: str,
    integration=None,
    user=None,
    note: str = "",
    inbound_event=None,
    savepoint: bool = True,
    **fields,
) -> Order:
    """Create an order in status ``new`` and its first history row.

    ``inbound_event`` (an InboundEvent, possibly not saved yet: the partner API inserts it
    at the end of the same transaction) is linked from the history row. A caller whose
    own transaction is rolled back as a whole on any error may pass ``savepoint=False``
    to save the savepoint's two database round trips.
    """
    with transaction.atomic(savepoint=savepoint):
        return _order_create(
            source=source,
            integration=integration,
            user=user,
            note=note,
            inbound_event=inbound_event,
            **fields,
        )


def _order_create(*, source, integration, user, note, inbound_event, **fields) -> Order:
    order = Order(status=OrderStatus.NEW, source_integration=integration, **fields)
    if not _database_numbers_orders():
        order.order_number = order_number_next()
    # Field validation only: the database enforces the fresh id's and number's uniqueness
    # and the integration foreign key, and checking them here cost three queries per order.
    order.full_clean(
        exclude=["source_integration"], validate_unique=False, validate_constraints=False
    )
    row_insert(order)
    change = _history_insert(
        order, "", OrderStatus.NEW, source, integration, user, note, inbound_event
    )
    order_status_changed.send(sender=Order, order=order, change=change)
    return order


def _history_insert(
    order, from_status, to_status, source, integration, user, note, inbound_event
) -> OrderStatusChange:
    """The status history row of a creation (no from_status) or a change."""
    return row_insert(
        OrderStatusChange(
            order=order,
            from_status=from_status,
            to_status=to_status,
            source=source,
            integration=integration,
            user=user,
            note=note,
            inbound_event_id=inbound_event.pk if inbound_event is not None else None,
        )
    )


def order_change_status(
    *,
    order: Order,
    to_status: str,
    source: str,
    integration=None,
    user=None,
    note: str = "",
    inbound_event=None,
    order_is_locked: bool = False,
    also_update_fields: tuple[str, ...] = (),
    savepoint: bool = True,
) -> OrderStatusChange:
    """Move ``order`` to ``to_status`` if the transition is allowed, recording history.

    The row is locked for the transaction, so concurrent changes of one order are
    applied one after the other against the latest status. A caller that already
    holds the lock (``select_for_update`` in the same transaction) passes
    ``order_is_locked=True`` to skip the second read, and may name fields it changed
    on that row in ``also_update_fields`` to save them in the same UPDATE. ``savepoint``
    as for ``order_create``.
    """
    with transaction.atomic(savepoint=savepoint):
        return _order_change_status(
            order=order,
            to_status=to_status,
            source=source,
            integration=integration,
            user=user,
            note=note,
            inbound_event=inbound_event,
            order_is_locked=order_is_locked,
            also_update_fields=also_update_fields,
        )


def _order_change_status(
    *,
    order,
    to_status,
    source,
    integration,
    user,
    note,
    inbound_event,
    order_is_locked,
    also_update_fields,
) -> OrderStatusChange:
    if to_status not in OrderStatus.values:
        raise ValidationError(
            f"'{to_status}' is not a ChargeCars status ({', '.join(OrderStatus.values)}).",
            code="unknown_status",
        )
    locked = order if order_is_locked else Order.objects.select_for_update().get(pk=order.pk)
    if to_status not in allowed_next_statuses(locked.status):
        raise InvalidTransition(order=locked, to_status=to_status)
    change = _history_insert(
        locked, locked.status, to_status, source, integration, user, note, inbound_event
    )
    locked.status = to_status
    row_update(locked, ("status", "updated_at", *also_update_fields))
    order.status, order.updated_at = locked.status, locked.updated_at
    order_status_changed.send(sender=Order, order=locked, change=change)
    return change


def order_update(
    *,
    order: Order,
    changed_fields: list[str] | tuple[str, ...] = (),
    to_status: str = "",
    user=None,
    note: str = "",
) -> None:
    """Staff edit of an order: write the ``changed_fields`` of ``order`` and, if asked, move
    it to ``to_status``, together or not at all.

    Only the named fields are written, so a status change made meanwhile by a partner or
    a worker is never undone. Raises ValidationError (InvalidTransition) when the status
    has moved on since the form was shown; then nothing of the edit is kept.
    """
    with transaction.atomic():
        if changed_fields:
            order.save(update_fields=[*changed_fields, "updated_at"])
        if to_status:
            order_change_status(
                order=order,
                to_status=to_status,
                source=StatusChangeSource.STAFF,
                user=user,
                note=note,
            )
