"""One sync of one integration, whoever starts it (beat, Sync now, `sync_integration`).

1. Claim the lease (``lease``) and open the run.
2. Push the webhook deliveries that waited for this slot (non-real-time integrations).
3. Pull the partner's order changes since the start of the last successful sync, minus
   SYNC_OVERLAP_SECONDS, page by page (``feed``), applying each page (``apply``) and
   recording progress, HTTP requests and the lease after each one.
4. Close the run: ``succeeded`` (``last_sync_at`` becomes the start of this pass),
   ``partial`` (SYNC_MAX_PAGES or the time limit reached; the next run goes on from the
   cursor) or ``failed`` (the reason; the next run re-reads from the same watermark).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.client import Exchange
from integrations.models import (
    SYNC_RUN_COUNTERS,
    PartnerIntegration,
    SyncFrequency,
    SyncRequest,
    SyncRun,
    SyncRunStatus,
    SyncTrigger,
)
from integrations.outbound.enqueue import deliveries_push_for_integration
from integrations.sync.apply import page_apply
from integrations.sync.feed import EPOCH, FeedReader, SyncFailed
from integrations.sync.lease import Lease, sync_lease_claim, sync_lease_release, sync_lease_renew
from integrations.sync.mapping import feed_mapping_errors, feed_mapping_for, field_paths
from integrations.sync.schedule import failure_backoff

logger = logging.getLogger(__name__)


@dataclass
class SyncAttempt:
    """A sync asked for: its run, or why none started (``refused``)."""

    run: SyncRun | None
    refused: str = ""


@dataclass
class _Progress:
    counts: dict = field(default_factory=lambda: dict.fromkeys(SYNC_RUN_COUNTERS, 0))
    skipped: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # SyncRequest rows not yet written
    pages: int = 0
    next_cursor: str | None = None  # the resume point after the last page applied


def sync_refusal(integration: PartnerIntegration) -> str:
    """Why no sync of ``integration`` may start now (empty when it may)."""
    if not integration.is_active:
        return f"{integration} is inactive: no sync runs."
    if not integration.sync_enabled:
        return (
            f"Sync of {integration} is paused (sync_enabled is off): no syncs and no webhooks "
            "until it is switched on."
        )
    return ""


def sync_run(
    *,
    integration: PartnerIntegration,
    trigger: str,
    user=None,
    full: bool = False,
) -> SyncAttempt:
    """Run one sync now, in this process. ``full`` re-reads the whole feed (ignoring the
    watermark). Scheduled triggers run only if the sync is still due when claimed."""
    if refused := sync_refusal(integration):
        return SyncAttempt(None, refused)
    scheduled = trigger != SyncTrigger.MANUAL
    lease = sync_lease_claim(
        integration=integration, trigger=trigger, scheduled=scheduled, user=user
    )
    if lease is None:
        reason = "not due any more" if scheduled else "another sync of it is running"
        return SyncAttempt(None, f"No sync of {integration} started: {reason}.")
    integration = lease.state.integration
    progress = _Progress()
    state = lease.state
    resuming = bool(state.resume_cursor) and not full
    pass_started = state.pass_started_at if resuming else lease.run.started_at
    try:
        _sync(integration, lease, progress, resuming=resuming, full=full)
    except SyncFailed as failure:
        _close_failed(integration, lease, progress, failure.reason, failure.retry_after)
    except SoftTimeLimitExceeded:
        if progress.next_cursor:
            _close_partial(lease, progress, pass_started, note="Stopped at the time limit.")
        else:
            _close_failed(integration, lease, progress, "Stopped at the task's time limit.")
    except Exception as exc:
        logger.exception("Sync of %s failed", integration)
        _close_failed(integration, lease, progress, f"Internal error: {type(exc).__name__}")
        raise
    else:
        if progress.next_cursor:
            _close_partial(lease, progress, pass_started, note="")
        else:
            _close_succeeded(integration, lease, progress, pass_started)
    lease.run.refresh_from_db()
    return SyncAttempt(lease.run)


def _watermark(integration, state, *, resuming: bool, full: bool) -> datetime:
    if full or integration.last_sync_at is None:
        return EPOCH
    if resuming and state.resume_since:
        return state.resume_since
    return integration.last_sync_at - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)


def _sync(integration, lease: Lease, progress: _Progress, *, resuming: bool, full: bool) -> None:
    run, state = lease.run, lease.state
    if integration.sync_frequency != SyncFrequency.REAL_TIME:
        run.deliveries_pushed = deliveries_push_for_integration(integration=integration)
        SyncRun.objects.filter(pk=run.pk).update(deliveries_pushed=run.deliveries_pushed)
    if not integration.api_base_url:
        return  # nothing to pull from: pushing was the whole sync
    mapping = feed_mapping_for(integration)
    if errors := feed_mapping_errors(mapping):
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        raise SyncFailed(f"The feed mapping is not usable ({problems}).")
    run.updated_since = _watermark(integration, state, resuming=resuming, full=full)
    run.resumed = resuming
    SyncRun.objects.filter(pk=run.pk).update(updated_since=run.updated_since, resumed=resuming)

    def before_request() -> None:
        if not sync_lease_renew(lease):
            raise SyncFailed("Lost the sync lease (it expired); another sync took over.")

    reader = FeedReader(
        integration=integration,
        mapping=mapping,
        since=run.updated_since,
        cursor=state.resume_cursor if resuming else None,
        before_request=before_request,
        on_exchange=lambda exchange: progress.requests.append(_request_row(lease, exchange)),
    )
    paths, time_format = field_paths(mapping), mapping.time_format
    try:
        for page in reader.pages(max_pages=settings.SYNC_MAX_PAGES):
            result = page_apply(
                integration=integration,
                run=run,
                raw_records=page.records,
                paths=paths,
                time_format=time_format,
            )
            progress.pages += 1
            progress.counts["records_pulled"] += len(page.records)
            for outcome, count in result.counts.items():
                progress.counts[f"records_{outcome}"] += count
            room = settings.SYNC_SKIPPED_RECORDS_KEPT - len(progress.skipped)
            progress.skipped += [dict(entry, page=page.number) for entry in result.skipped[:room]]
            progress.next_cursor = page.next_cursor
            _save_progress(lease, progress)
    finally:
        _save_requests(lease, progress)


def _request_row(lease: Lease, exchange: Exchange) -> SyncRequest:
    return SyncRequest(
        run=lease.run,
        integration_id=lease.state.pk,
        requested_at=timezone.now() - timedelta(milliseconds=exchange.duration_ms),
        method=exchange.method,
        url=exchange.url,
        status_code=exchange.status_code,
        duration_ms=exchange.duration_ms,
        succeeded=exchange.status_code is not None and 200 <= exchange.status_code < 300,
        error=exchange.error[:1000],
    )


def _save_requests(lease: Lease, progress: _Progress) -> None:
    rows, progress.requests = progress.requests, []
    if rows:
        SyncRequest.objects.bulk_create(rows)
        SyncRun.objects.filter(pk=lease.run.pk).update(
            http_requests=F("http_requests") + len(rows),
            http_failures=F("http_failures") + sum(not row.succeeded for row in rows),
        )


def _save_progress(lease: Lease, progress: _Progress) -> None:
    _save_requests(lease, progress)
    SyncRun.objects.filter(pk=lease.run.pk).update(
        pages=progress.pages, skipped_records=progress.skipped, **progress.counts
    )


def _close(
    lease: Lease,
    progress: _Progress,
    status: str,
    error: str = "",
    integration_changes: dict | None = None,
    **state,
) -> None:
    """Finish the run: its row, the integration's sync fields and the lease's release are
    one transaction, so nobody sees a finished run whose lease is still held."""
    counts = ", ".join(f"{n} {k.removeprefix('records_')}" for k, n in progress.counts.items())
    logger.info("Sync of %s %s: %s pages, %s", lease.state.pk, status, progress.pages, counts)
    with transaction.atomic():
        if integration_changes:
            PartnerIntegration.objects.filter(pk=lease.state.integration_id).update(
                **integration_changes
            )
        _save_requests(lease, progress)
        SyncRun.objects.filter(pk=lease.run.pk).update(
            status=status,
            finished_at=timezone.now(),
            error=error,
            pages=progress.pages,
            skipped_records=progress.skipped,
            **progress.counts,
        )
        sync_lease_release(lease, **state)


def _close_succeeded(integration, lease: Lease, progress: _Progress, pass_started) -> None:
    _close(
        lease,
        progress,
        SyncRunStatus.SUCCEEDED,
        # The next sync asks for what changed since this pass started (minus the overlap).
        integration_changes={"last_sync_at": pass_started},
        resume_cursor="",
        resume_since=None,
        pass_started_at=None,
        consecutive_failures=0,
        not_before=None,
    )


def _close_partial(lease: Lease, progress: _Progress, pass_started, *, note: str) -> None:
    reason = note or f"Read {progress.pages} pages (SYNC_MAX_PAGES); the next sync goes on."
    _close(
        lease,
        progress,
        SyncRunStatus.PARTIAL,
        reason,
        resume_cursor=progress.next_cursor,
        resume_since=lease.run.updated_since,
        pass_started_at=pass_started,
        consecutive_failures=0,
        not_before=None,
    )


def _close_failed(
    integration, lease: Lease, progress, reason: str, retry_after: float | None = None
) -> None:
    now = timezone.now()
    failures = lease.state.consecutive_failures + 1
    wait = max(failure_backoff(integration, failures), timedelta(seconds=retry_after or 0))
    # Not resumed: the next run re-reads the pass from its watermark, losing nothing.
    _close(
        lease,
        progress,
        SyncRunStatus.FAILED,
        reason,
        integration_changes={
            "last_error_at": now,
            "last_error_message": f"Sync failed: {reason}"[:2000],
        },
        resume_cursor="",
        resume_since=None,
        pass_started_at=None,
        consecutive_failures=failures,
        not_before=now + wait,
    )
    logger.warning("Sync of %s failed: %s", integration, reason)
