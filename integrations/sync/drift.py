"""The drift report: orders whose partner-side status disagrees with ours.

A row is written when the status engine refuses a partner's status (from a pull, or from a
status update on the partner API, through ``partner_status_refused``). Whether it still
holds is read from the order each time (``current_drift_q``): once the order reaches the
partner's status, or a newer partner status is accepted, it drops out of the report.
"""

from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from integrations.models import (
    DriftSource,
    OrderDrift,
    PartnerIntegration,
    SyncRun,
    current_drift_q,
)
from orders.models import Order


def _still_holds(drift: OrderDrift, order: Order) -> bool:
    last = order.partner_status_occurred_at
    return drift.partner_chargecars_status != order.status and (
        last is None or drift.reported_at >= last
    )


def drift_record(
    *,
    integration: PartnerIntegration,
    order: Order,
    partner_status: str,
    reported_at: datetime,
    source: str,
    sync_run: SyncRun | None = None,
) -> OrderDrift:
    """Record that the partner says ``partner_status`` (at ``reported_at``) for ``order``,
    which our engine could not reach. ``since`` is kept while the order stays in drift."""
    now = timezone.now()
    values = {
        "integration": integration,
        "partner_status": partner_status,
        "partner_chargecars_status": integration.chargecars_status_for(partner_status) or "",
        "our_status_when_reported": order.status,
        "reported_at": reported_at,
        "source": source,
        "last_seen_at": now,
        "sync_run": sync_run,
    }
    drift = OrderDrift.objects.filter(order=order).first()
    if drift is None:
        return OrderDrift.objects.create(order=order, since=now, **values)
    if not _still_holds(drift, order):
        values["since"] = now  # the earlier disagreement ended; this is a new one
    for name, value in values.items():
        setattr(drift, name, value)
    drift.save()
    return drift


def on_partner_status_refused(sender, *, integration, refusal, **kwargs) -> None:
    """The partner API refused a status update (409): the partner and we disagree."""
    if refusal.order is None or refusal.occurred_at is None:
        return
    drift_record(
        integration=integration,
        order=refusal.order,
        partner_status=refusal.status,
        reported_at=refusal.occurred_at,
        source=DriftSource.API,
    )


def drift_counts() -> dict:
    """Orders in drift now, per integration id."""
    rows = (
        OrderDrift.objects.filter(current_drift_q())
        .values("integration_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {row["integration_id"]: row["count"] for row in rows}
