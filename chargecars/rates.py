"""Request rates as settings write them ("600/minute"), parsed once at start-up and per use."""

import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


def rate_parse(value: str) -> Rate | None:
    """'600/minute', '50/10seconds', '0' or '' (no limit)."""
    if not value or value.strip() in {"0", "off", "none"}:
        return None
    match = _RATE.match(value)
    # 0/minute would refuse every request and 1/0seconds divide by zero: "0" is "no limit".
    if not match or int(match[1]) == 0 or int(match[2] or 1) == 0:
        raise ImproperlyConfigured(
            f"Rate {value!r} is not like '600/minute' (N/second|minute|hour|day, "
            "optionally N/10seconds, N and the period above 0; 0 for no limit)."
        )
    limit, multiple, unit = match.groups()
    return Rate(limit=int(limit), period=int(multiple or 1) * _PERIODS[unit])
