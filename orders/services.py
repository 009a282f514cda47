"""The status engine: the only code that creates orders and changes their status."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from orders.models import Order, OrderNumber, OrderStatusChange
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
    sequence = OrderNumber.objects.create()
    return f"CC-{timezone.now().year}-{sequence.pk:06d}"


@transaction.atomic
def order_create(
    *,
    source: str,
    integration=None,
    user=None,
    note: str = "",
    **fields,
) -> Order:
    order = Order(
        order_number=order_number_next(),
        status=OrderStatus.NEW,
        source_integration=integration,
        **fields,
    )
    order.full_clean(validate_constraints=False)
    order.save(force_insert=True)
    change = OrderStatusChange.objects.create(
        order=order,
        from_status="",
        to_status=OrderStatus.NEW,
        source=source,
        integration=integration,
        user=user,
        note=note,
    )
    order_status_changed.send(sender=Order, order=order, change=change)
    return order


@transaction.atomic
def order_change_status(
    *,
    order: Order,
    to_status: str,
    source: str,
    integration=None,
    user=None,
    note: str = "",
) -> OrderStatusChange:
    """Move ``order`` to ``to_status`` if the transition is allowed, recording history.

    The row is locked for the transaction, so concurrent changes of one order are
    applied one after the other against the latest status.
    """
    if to_status not in OrderStatus.values:
        raise ValidationError(
            f"'{to_status}' is not a ChargeCars status ({', '.join(OrderStatus.values)}).",
            code="unknown_status",
        )
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if to_status not in allowed_next_statuses(locked.status):
        raise InvalidTransition(order=locked, to_status=to_status)
    change = OrderStatusChange.objects.create(
        order=locked,
        from_status=locked.status,
        to_status=to_status,
        source=source,
        integration=integration,
        user=user,
        note=note,
    )
    locked.status = to_status
    locked.save(update_fields=["status", "updated_at"])
    order.status, order.updated_at = locked.status, locked.updated_at
    order_status_changed.send(sender=Order, order=locked, change=change)
    return change
