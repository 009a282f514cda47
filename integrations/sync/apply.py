"""Applying a page of pulled records through the partner API's own services.

An unknown ``partner_order_id`` creates the order (``partner_order_create``, source
``sync``), then moves it to the record's status; a known one gets its references and its
status through ``partner_status_update``, stale-safe on ``updated_at``. A status the engine
cannot reach in one allowed transition is recorded as drift; a record that fails
validation is skipped with its reason. A record that would change nothing costs no write.

A page is applied in one transaction without savepoints, its known orders locked (FOR
UPDATE) while it is applied, so their status updates need no second lookup. If the
database refuses it (a partner API create of the same order won the race), the page is
applied again record by record, each in its own savepoint, looking orders up first:
nothing is lost or doubled.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from integrations.api.partner_orders import (
    PartnerOrderError,
    TransitionRefused,
    partner_order_create,
    partner_status_update,
)
from integrations.api.problems import ProblemError
from integrations.api.serializers import OrderCreateRequestSerializer, validated
from integrations.models import DriftSource, InboundEvent, PartnerIntegration, SyncRun
from integrations.sync.drift import drift_record
from integrations.sync.mapping import PulledRecord, RecordSkipped, record_read
from orders.models import Order, StatusChangeSource
from orders.selectors import orders_for_partner_ids
from orders.status import OrderStatus

Outcome = InboundEvent.Outcome
CREATED, UPDATED, UNCHANGED, STALE, SKIPPED, DRIFT = (
    "created",
    "updated",
    "unchanged",
    "stale",
    "skipped",
    "drift",
)
SYNC_NOTE = "Created by sync."


@dataclass
class PageResult:
    """What a page did: records per outcome (``drift`` also counts created orders whose
    status was out of reach) and the skipped records with their reasons."""

    counts: Counter = field(default_factory=Counter)
    skipped: list[dict] = field(default_factory=list)


def creation_data(record: PulledRecord) -> dict:
    """The create endpoint's fields, validated as the partner API validates them."""
    data = {"partner_order_id": record.partner_order_id, **record.references, **record.details}
    try:
        return dict(validated(OrderCreateRequestSerializer, data))
    except ProblemError as problem:
        errors = problem.errors or {"body": [problem.detail]}
        reason = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
        raise RecordSkipped(reason, partner_order_id=record.partner_order_id) from None


class _Applier:
    """Applies records of one page; ``orders`` holds the orders known so far, by id."""

    def __init__(self, integration, run, orders: dict[str, Order], savepoints: bool):
        self.integration, self.run = integration, run
        self.orders, self.savepoints = orders, savepoints
        self.locked = set(orders)  # rows this transaction holds: prefetched or created here
        self.drifted = 0

    def apply(self, record: PulledRecord) -> str:
        order = self.orders.get(record.partner_order_id)
        if order is None:
            return self._create(record)
        return self._update(order, record)

    def _create(self, record: PulledRecord) -> str:
        data = creation_data(record)
        at_new = record.chargecars_status == OrderStatus.NEW
        order, created = partner_order_create(
            integration=self.integration,
            data=data,
            savepoint=self.savepoints,
            existing_first=self.savepoints,
            source=StatusChangeSource.SYNC,
            note=SYNC_NOTE,
            occurred_at=record.updated_at if at_new else None,
        )
        self.orders[record.partner_order_id] = order
        if created:
            self.locked.add(record.partner_order_id)
        else:  # made meanwhile by the partner API: an update like any other
            return self._update(order, record)
        if not at_new:
            self._status(order, record, references={})  # ours: created in this transaction
        return CREATED

    def _update(self, order: Order, record: PulledRecord) -> str:
        last = order.partner_status_occurred_at
        if last is not None and record.updated_at < last:
            return STALE
        stored = order.partner_external_references or {}
        changes = {k: v for k, v in record.references.items() if stored.get(k) != v}
        if (
            not changes
            and last is not None
            and record.updated_at <= last
            and record.chargecars_status == order.status
        ):
            return UNCHANGED  # nothing newer than what we recorded: no write
        outcome = self._status(order, record, references=changes)
        if outcome in (DRIFT, STALE):
            return outcome
        return UPDATED if outcome == Outcome.APPLIED or changes else UNCHANGED

    def _status(self, order: Order, record: PulledRecord, *, references: dict) -> str:
        try:
            order, outcome = partner_status_update(
                integration=self.integration,
                partner_order_id=record.partner_order_id,
                status=record.status,
                occurred_at=record.updated_at,
                note=f"Partner status {record.status} (sync).",
                savepoint=self.savepoints,
                source=StatusChangeSource.SYNC,
                references=references,
                locked_order=order if record.partner_order_id in self.locked else None,
            )
        except TransitionRefused as refusal:
            drift_record(
                integration=self.integration,
                order=refusal.order or order,
                partner_status=record.status,
                reported_at=record.updated_at,
                source=DriftSource.SYNC,
                sync_run=self.run,
            )
            self.drifted += 1
            return DRIFT
        self.orders[record.partner_order_id] = order
        return STALE if outcome == Outcome.STALE else outcome


def _apply_all(integration, run, records, orders, *, savepoints: bool) -> PageResult:
    result = PageResult()
    applier = _Applier(integration, run, orders, savepoints)
    for record in records:
        try:
            if savepoints:
                with transaction.atomic():
                    outcome = applier.apply(record)
            else:
                outcome = applier.apply(record)
        except (RecordSkipped, PartnerOrderError) as exc:
            _skip(result, record.partner_order_id, getattr(exc, "reason", str(exc)))
            continue
        result.counts[outcome] += 1
    # Drift counts every record whose status was out of reach, created orders' too.
    result.counts[DRIFT] = applier.drifted
    return result


def _skip(result: PageResult, partner_order_id: str, reason: str) -> None:
    result.counts[SKIPPED] += 1
    result.skipped.append({"partner_order_id": partner_order_id, "reason": reason[:500]})


def page_apply(
    *,
    integration: PartnerIntegration,
    run: SyncRun | None,
    raw_records: list,
    paths: dict,
    time_format: str,
) -> PageResult:
    """Apply one page of the partner's records; returns its counts and skipped records."""
    records: list[PulledRecord] = []
    early = PageResult()
    for raw in raw_records:
        try:
            records.append(
                record_read(raw, paths=paths, integration=integration, time_format=time_format)
            )
        except RecordSkipped as skipped:
            _skip(early, skipped.partner_order_id, skipped.reason)
    ids = {record.partner_order_id for record in records}
    try:
        with transaction.atomic():
            orders = orders_for_partner_ids(
                integration_id=integration.pk, partner_order_ids=ids, lock=True
            )
            result = _apply_all(integration, run, records, orders, savepoints=False)
    except DatabaseError:
        # Lost a race with the partner API (or another writer): all of it was rolled back.
        with transaction.atomic():
            orders = orders_for_partner_ids(
                integration_id=integration.pk, partner_order_ids=ids, lock=True
            )
            result = _apply_all(integration, run, records, orders, savepoints=True)
    result.counts.update(early.counts)
    result.skipped = early.skipped + result.skipped
    return result
