"""ChargeCars order statuses and the transitions between them."""

from django.db import models


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    APPROVED = "approved", "Approved"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.NEW: (OrderStatus.APPROVED, OrderStatus.CANCELLED),
    OrderStatus.APPROVED: (OrderStatus.IN_PROGRESS, OrderStatus.CANCELLED),
    OrderStatus.IN_PROGRESS: (OrderStatus.COMPLETED, OrderStatus.CANCELLED),
    OrderStatus.COMPLETED: (),
    OrderStatus.CANCELLED: (),
}

FINAL_STATUSES = frozenset(status for status, nexts in ALLOWED_TRANSITIONS.items() if not nexts)


def allowed_next_statuses(status: str) -> tuple[str, ...]:
    return ALLOWED_TRANSITIONS.get(status, ())


# The partner-facing event each status change raises (see integrations.config.WEBHOOK_EVENTS).
EVENT_FOR_STATUS: dict[str, str] = {
    OrderStatus.NEW: "order_created",
    OrderStatus.APPROVED: "order_approved",
    OrderStatus.IN_PROGRESS: "installation_started",
    OrderStatus.COMPLETED: "installation_completed",
    OrderStatus.CANCELLED: "order_cancelled",
}
