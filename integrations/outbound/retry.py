"""How an attempt's outcome is classed, and how long to wait before the next one.

``retry_delay`` is the only reader of ``WEBHOOK_RETRY_SCHEDULE``: the first attempt's delay,
each retry's, and a held integration's probes all come from it.
"""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.utils import timezone

# Outcome classes of one attempt.
SUCCESS, RETRY, FAIL, GONE = "success", "retry", "fail", "gone"


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


def retry_delay(
    position: int, *, retry_after: float | None = None, repeat_last: bool = False
) -> float | None:
    """Seconds to wait before the attempt at ``position`` on ``WEBHOOK_RETRY_SCHEDULE``, and
    never less than the partner's ``retry_after``.

    Position 0 is a delivery's first attempt (0: at once, on commit). Past the end of the
    schedule there is no next attempt (None), unless ``repeat_last``: a held integration's
    probes go on at the pace of the schedule's last entry.
    """
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if position >= len(schedule):
        if not repeat_last:
            return None
        position = len(schedule) - 1
    return max(float(schedule[position]), retry_after or 0.0)
