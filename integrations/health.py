"""Integration health upkeep: success_rate, last_error_at, last_error_message."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone

from integrations.models import DeliveryAttempt, PartnerIntegration

SUCCESS_RATE_WINDOW = timedelta(hours=24)


def integration_success_rate(*, integration_id, now: datetime | None = None) -> Decimal | None:
    """Successful webhook attempts over all attempts in the trailing 24 hours, in percent."""
    since = (now or timezone.now()) - SUCCESS_RATE_WINDOW
    totals = DeliveryAttempt.objects.filter(
        integration_id=integration_id, attempted_at__gte=since
    ).aggregate(total=Count("id"), ok=Count("id", filter=Q(succeeded=True)))
    if not totals["total"]:
        return None
    return (Decimal(totals["ok"] * 100) / Decimal(totals["total"])).quantize(Decimal("0.01"))


def integration_health_record(
    *, integration_id, error_at: datetime | None = None, error_message: str = ""
) -> None:
    """Refresh success_rate and, when an attempt failed, last_error_at / last_error_message."""
    fields = {"success_rate": integration_success_rate(integration_id=integration_id)}
    if error_at is not None:
        fields["last_error_at"] = error_at
        fields["last_error_message"] = error_message[:1000]
    PartnerIntegration.objects.filter(pk=integration_id).update(**fields)
