"""Reading a partner's order feed: the default contract or a custom feed mapping, its
validation, and turning one partner record into the fields we apply.

Without a ``FeedMapping`` row an integration speaks the default contract (README, "For
partners: the order feed we read from you"); a mapping names the feed path, the query
parameters, where the records and the next cursor are in a page, and where each of our
fields is in a record (dotted paths: ``customer.name``, ``lines.0.sku``).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from integrations.api.partner_orders import PARTNER_ORDER_ID_PATTERN, REFERENCE_FIELDS
from integrations.models import FeedMapping, FeedPaging, FeedTimeFormat, PartnerIntegration
from orders.models import ORDER_DETAIL_FIELDS

# Our fields a record may carry: the three every record needs, then what a create accepts.
REQUIRED_FIELDS = ("partner_order_id", "status", "updated_at")
RECORD_FIELDS = (*REQUIRED_FIELDS, *ORDER_DETAIL_FIELDS, *REFERENCE_FIELDS)
MAX_PAGE_SIZE = 500
# Query parameter names we send: what a URL carries without escaping.
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,100}$")
_PARTNER_ORDER_ID = re.compile(PARTNER_ORDER_ID_PATTERN)
_MISSING = object()
# The largest future skew we accept in a record's updated_at (the partner API's limit too).
FUTURE_TOLERANCE = timedelta(minutes=5)


def feed_mapping_for(integration: PartnerIntegration) -> FeedMapping:
    """The integration's feed mapping, or the default contract's (unsaved) when it has none."""
    try:
        return integration.feed_mapping
    except FeedMapping.DoesNotExist:
        return FeedMapping(integration=integration)


def field_paths(mapping: FeedMapping) -> dict[str, list[str]]:
    """Our field -> the path of its value in a record, split at the dots."""
    names = mapping.field_mapping or {name: name for name in RECORD_FIELDS}
    return {ours: str(path).split(".") for ours, path in names.items()}


def value_at(data, path: list[str]):
    """The value at ``path`` (keys of objects, indexes of lists), or ``_MISSING``."""
    for step in path:
        if isinstance(data, dict):
            data = data.get(step, _MISSING)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return _MISSING
        if data is _MISSING:
            return _MISSING
    return data


def is_missing(value) -> bool:
    return value is _MISSING


# --- Validation (the admin form, and the sync before it reads a page) ------------------------


def _dotted_path_problem(value) -> str:
    if not isinstance(value, str) or not value.strip():
        return "must be a dotted path such as customer.name"
    if any(not part.strip() for part in value.split(".")) or value != value.strip():
        return f"{value!r} is not a dotted path (no empty parts or spaces around dots)"
    return ""


def _param_problems(mapping: FeedMapping) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    used = ["updated_since_param", "limit_param"]
    used.append("cursor_param" if mapping.paging == FeedPaging.CURSOR else "page_param")
    for name in used:
        if not _PARAM_NAME.match(getattr(mapping, name) or ""):
            errors[name] = ["Use 1-100 letters, digits, '_', '-', '.', '[' or ']'."]
    values = [getattr(mapping, name) for name in used]
    if len(set(values)) < len(values):
        errors.setdefault("__all__", []).append(
            f"The query parameter names must differ ({', '.join(values)})."
        )
    extra = mapping.extra_query
    if not isinstance(extra, dict):
        errors["extra_query"] = ['An object of parameter -> value, e.g. {"state": "all"}.']
        return errors
    problems = []
    for key, value in extra.items():
        if not _PARAM_NAME.match(key):
            problems.append(f"{key!r} is not a usable parameter name.")
        elif key in values:
            problems.append(f"{key!r} is set by the sync itself; remove it here.")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(f"{key!r}: the value must be text or a number.")
    if problems:
        errors["extra_query"] = problems
    return errors


def _field_mapping_problems(field_mapping) -> list[str]:
    if field_mapping in (None, {}):
        return []
    if not isinstance(field_mapping, dict):
        return ['An object of our field -> dotted path, e.g. {"customer_name": "customer.name"}.']
    problems = []
    unknown = sorted(set(field_mapping) - set(RECORD_FIELDS))
    if unknown:
        problems.append(
            f"Unknown field(s) {', '.join(unknown)}. Our fields: {', '.join(RECORD_FIELDS)}."
        )
    missing = [name for name in REQUIRED_FIELDS if name not in field_mapping]
    if missing:
        problems.append(f"Map {', '.join(missing)}: every record needs them.")
    for ours, path in field_mapping.items():
        if problem := _dotted_path_problem(path):
            problems.append(f"{ours}: {problem}.")
    return problems


def feed_mapping_errors(mapping: FeedMapping) -> dict[str, list[str]]:
    """Everything wrong with a mapping, per field ("__all__" for the whole of it)."""
    errors = _param_problems(mapping)
    path = (mapping.path or "").strip()
    if not path or "://" in path or "?" in path or "#" in path or ".." in path.split("/"):
        errors["path"] = [
            "A path below api_base_url such as orders or v2/orders/changes (no scheme, host, "
            "'..' or query string: fixed parameters go in extra_query)."
        ]
    if not 1 <= (mapping.page_size or 0) <= MAX_PAGE_SIZE:
        errors["page_size"] = [f"Ask between 1 and {MAX_PAGE_SIZE} records per page."]
    if mapping.items_key and (problem := _dotted_path_problem(mapping.items_key)):
        errors["items_key"] = [f"{problem[0].upper()}{problem[1:]} (empty: the page is the list)."]
    if mapping.paging == FeedPaging.CURSOR and (
        problem := _dotted_path_problem(mapping.next_cursor_key)
    ):
        errors["next_cursor_key"] = [f"{problem[0].upper()}{problem[1:]}."]
    if problems := _field_mapping_problems(mapping.field_mapping):
        errors["field_mapping"] = problems
    return errors


# --- One record ----------------------------------------------------------------------------


class RecordSkipped(Exception):
    """A record that cannot be applied; ``reason`` says what to fix."""

    def __init__(self, reason: str, *, partner_order_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.partner_order_id = partner_order_id


@dataclass
class PulledRecord:
    """A partner record as we apply it: the partner's status and our reading of it."""

    partner_order_id: str
    status: str
    chargecars_status: str
    updated_at: datetime
    details: dict = field(default_factory=dict)  # ORDER_DETAIL_FIELDS present, raw
    references: dict[str, str] = field(default_factory=dict)  # REFERENCE_FIELDS present


def _text(value, name: str, problems: list[str]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(f"{name} must be text, not {type(value).__name__}.")
        return ""
    return str(value)


def _time(value, time_format: str, problems: list[str]) -> datetime | None:
    if time_format == FeedTimeFormat.UNIX:
        problem = "updated_at must be a number of seconds since 1970 (Unix time)"
        if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
            value = float(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, tz=UTC)
            except (OverflowError, OSError, ValueError):
                pass
    else:
        problem = (
            "updated_at must be an RFC 3339 time with its UTC offset, e.g. 2025-06-01T10:30:00Z"
        )
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None and "T" in value.upper():
            return moment
    problems.append(f"{problem}; got {value_text(value)}.")
    return None


def _status(value, integration: PartnerIntegration, problems: list[str]) -> tuple[str, str]:
    status = _text(value, "status", problems)
    chargecars_status = integration.chargecars_status_for(status) if status else None
    if status and chargecars_status is None:
        accepted = sorted((integration.status_mapping or {}).get("partner_to_chargecars", {}))
        problems.append(
            f"Unknown status {status!r}: the status mapping accepts "
            f"{', '.join(accepted) or 'nothing yet'}."
        )
    return status, chargecars_status or ""


def record_fields(raw, paths: dict[str, list[str]]) -> dict:
    """Our fields found in a record (null and "" count as not given: feeds carry empty
    fields)."""
    found = {ours: value_at(raw, path) for ours, path in paths.items()}
    return {k: v for k, v in found.items() if v is not _MISSING and v is not None and v != ""}


def record_read(
    raw, *, paths: dict[str, list[str]], integration: PartnerIntegration, time_format: str
) -> PulledRecord:
    """The fields of one partner record; raises RecordSkipped naming every problem."""
    if not isinstance(raw, dict):
        raise RecordSkipped(f"A record must be a JSON object, not {type(raw).__name__}.")
    found = record_fields(raw, paths)
    problems: list[str] = []
    for name in REQUIRED_FIELDS:
        if name not in found:
            where = ".".join(paths.get(name, [name]))
            problems.append(f"{name} is missing (read from {where!r}).")
    pid = ""
    if "partner_order_id" in found:
        pid = _text(found["partner_order_id"], "partner_order_id", problems)
    if pid and not _PARTNER_ORDER_ID.match(pid):
        problems.append(
            f"partner_order_id {pid[:120]!r} is not usable: use 1-100 letters, digits, '.', "
            "'_', ':' or '-', starting with a letter or digit."
        )
    status, chargecars_status = "", ""
    if "status" in found:
        status, chargecars_status = _status(found["status"], integration, problems)
    updated_at = None
    if "updated_at" in found:
        updated_at = _time(found["updated_at"], time_format, problems)
    if updated_at and updated_at > timezone.now() + FUTURE_TOLERANCE:
        problems.append(f"updated_at {value_text(found['updated_at'])} is in the future.")
    references = {}
    for name in REFERENCE_FIELDS:
        if name in found:
            references[name] = _text(found[name], name, problems)
            if len(references[name]) > 100:
                problems.append(f"{name} is longer than 100 characters.")
    if problems:
        raise RecordSkipped(" ".join(problems), partner_order_id=pid[:100])
    details = {name: found[name] for name in ORDER_DETAIL_FIELDS if name in found}
    return PulledRecord(pid, status, chargecars_status, updated_at, details, references)


def value_text(value) -> str:
    return value if isinstance(value, str) else repr(value)
