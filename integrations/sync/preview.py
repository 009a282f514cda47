"""Preview mapping: what a sample partner record becomes under a feed mapping, with every
error, before anything is synced (the feed mapping's admin page)."""

import json
from dataclasses import dataclass, field

from integrations.models import FeedMapping, PartnerIntegration
from integrations.sync.apply import creation_data
from integrations.sync.mapping import (
    RecordSkipped,
    field_paths,
    is_missing,
    record_read,
    value_at,
    value_text,
)

MAX_PREVIEWED = 20


@dataclass
class RecordPreview:
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # ours, path, value
    errors: list[str] = field(default_factory=list)
    becomes: str = ""


@dataclass
class MappingPreview:
    records: list[RecordPreview] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # about the sample as a whole


def _sample_records(sample, mapping: FeedMapping) -> list:
    """A pasted record, a list of records, or a whole page of the feed."""
    if isinstance(sample, list):
        return sample
    if isinstance(sample, dict) and mapping.items_key:
        records = value_at(sample, mapping.items_key.split("."))
        if isinstance(records, list):
            return records
    return [sample]


def _preview_one(raw, mapping: FeedMapping, integration: PartnerIntegration) -> RecordPreview:
    preview = RecordPreview()
    for ours, path in field_paths(mapping).items():
        value = value_at(raw, path) if isinstance(raw, dict) else None
        shown = "(not in the record)" if is_missing(value) else value_text(value)
        preview.fields.append((ours, ".".join(path), shown))
    try:
        record = record_read(
            raw,
            paths=field_paths(mapping),
            integration=integration,
            time_format=mapping.time_format,
        )
    except RecordSkipped as skipped:
        preview.errors.append(skipped.reason)
        preview.becomes = "Skipped by a sync (see the errors)."
        return preview
    try:
        creation_data(record)
        new_order = True
    except RecordSkipped as skipped:
        preview.errors.append(f"As a new order: {skipped.reason}")
        new_order = False
    status = f"{record.status} (ours: {record.chargecars_status})"
    if new_order:
        preview.becomes = (
            f"Order {record.partner_order_id}, partner status {status}, as of "
            f"{record.updated_at.isoformat()}: created if new, else its status and references "
            "are updated."
        )
    else:
        preview.becomes = (
            f"Order {record.partner_order_id}, partner status {status}: an existing order is "
            "updated; a new one would be skipped."
        )
    return preview


def mapping_preview(
    *, mapping: FeedMapping, integration: PartnerIntegration | None, sample_text: str
) -> MappingPreview:
    result = MappingPreview()
    if integration is None:
        result.errors.append("Choose the integration first (its status mapping is used).")
        return result
    try:
        sample = json.loads(sample_text)
    except ValueError as exc:
        result.errors.append(f"The sample is not JSON: {exc}.")
        return result
    records = _sample_records(sample, mapping)
    if len(records) > MAX_PREVIEWED:
        result.errors.append(f"Showing the first {MAX_PREVIEWED} of {len(records)} records.")
    result.records = [_preview_one(raw, mapping, integration) for raw in records[:MAX_PREVIEWED]]
    return result
