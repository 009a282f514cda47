"""Reading the partner's order feed page by page, through ``PartnerClient``.

Retries 429 and 5xx answers (of the feed or its token endpoint) with backoff inside the
run (honouring ``Retry-After``), lets the client refresh a token once on 401, and fails
the run, naming what was wrong, on any other answer, on no answer at all, on a page that
is not the contract's JSON, and on a cursor seen twice. ``SYNC_MAX_PAGES`` bounds one run.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from django.conf import settings

from chargecars.wire import rfc3339, strict_json_loads
from integrations.client import Exchange, PartnerAPIError, PartnerClient
from integrations.http import redact_url
from integrations.models import FeedMapping, FeedPaging, FeedTimeFormat, PartnerIntegration
from integrations.sync.mapping import is_missing, value_at

RETRYABLE = frozenset({429, 500, 502, 503, 504})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE_PREFIX = "page:"


class SyncFailed(Exception):
    """The run cannot go on; ``reason`` is shown to ops. ``retry_after``: seconds the
    partner asked us to wait before the next try."""

    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Page:
    number: int  # in this run, from 1
    records: list
    cursor: str | None  # what was sent to get it (None: the first page of a pass)
    next_cursor: str | None  # None: the last page


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(tz=UTC)).total_seconds(), 0.0)


def _time_param(moment: datetime, time_format: str) -> str:
    if time_format == FeedTimeFormat.UNIX:
        return str(int(moment.timestamp()))
    return rfc3339(moment)


class FeedReader:
    """The pages of one pass over the feed since ``since``, from ``cursor`` (a partial
    run's resume point) when given. ``before_request`` runs before every request (the run
    renews its lease there); ``on_exchange`` gets every HTTP request made."""

    def __init__(
        self,
        *,
        integration: PartnerIntegration,
        mapping: FeedMapping,
        since: datetime,
        cursor: str | None = None,
        before_request: Callable[[], None] = lambda: None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ):
        self.mapping = mapping
        self.since = since
        self.start_cursor = cursor or None
        self.before_request = before_request
        self.client = PartnerClient(integration, max_retries=0, on_exchange=on_exchange)
        self.where = redact_url(self.client.url(mapping.path))
        self.auth_type = integration.authentication_type

    def pages(self, *, max_pages: int) -> Iterator[Page]:
        """Yield pages until the last one, or ``max_pages`` of them (then the caller finds
        the resume point in the last page's ``next_cursor``)."""
        cursor = self.start_cursor
        seen: set[str] = set()
        for number in range(1, max_pages + 1):
            page = self._page(number, cursor)
            yield page
            if page.next_cursor is None:
                return
            if page.next_cursor in seen or page.next_cursor == cursor:
                raise SyncFailed(
                    f"Page {number}: the feed gave the cursor {page.next_cursor[:100]!r} a second "
                    "time; stopped so as not to read the same pages forever."
                )
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    # --- one page -----------------------------------------------------------------------------

    def _params(self, cursor: str | None) -> dict:
        mapping = self.mapping
        params = {str(k): str(v) for k, v in (mapping.extra_query or {}).items()}
        params[mapping.updated_since_param] = _time_param(self.since, mapping.time_format)
        params[mapping.limit_param] = str(mapping.page_size)
        if mapping.paging == FeedPaging.PAGE:
            params[mapping.page_param] = (cursor or f"{_PAGE_PREFIX}1").removeprefix(_PAGE_PREFIX)
        elif cursor:
            params[mapping.cursor_param] = cursor
        return params

    def _page(self, number: int, cursor: str | None) -> Page:
        body = self._get(number, self._params(cursor))
        mapping = self.mapping
        records = value_at(body, mapping.items_key.split(".")) if mapping.items_key else body
        if is_missing(records) or not isinstance(records, list):
            raise SyncFailed(f"Page {number} is not the feed's JSON: {self._shape(body)}")
        if mapping.paging == FeedPaging.PAGE:
            current = int((cursor or f"{_PAGE_PREFIX}1").removeprefix(_PAGE_PREFIX))
            full = len(records) >= mapping.page_size
            next_cursor = f"{_PAGE_PREFIX}{current + 1}" if full else None
        else:
            next_cursor = self._next_cursor(body, number)
        return Page(number, records, cursor, next_cursor)

    def _shape(self, body) -> str:
        key = self.mapping.items_key
        if not key:
            return f"expected a JSON list of records, got {type(body).__name__}."
        if not isinstance(body, dict):
            return f"expected an object with {key!r}, got a JSON {type(body).__name__}."
        found = value_at(body, key.split("."))
        if is_missing(found):
            keys = ", ".join(sorted(map(str, body))[:10]) or "none"
            return f"it has no {key!r} (its keys: {keys})."
        return f"{key!r} is a {type(found).__name__}, not a list of records."

    def _next_cursor(self, body, number: int) -> str | None:
        key = self.mapping.next_cursor_key
        value = value_at(body, key.split(".")) if isinstance(body, dict) else None
        if is_missing(value) or value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise SyncFailed(
                f"Page {number}: {key!r} must be a string or null, not {type(value).__name__}."
            )
        return str(value)

    def _get(self, number: int, params: dict):
        tries = settings.SYNC_HTTP_RETRIES + 1
        for attempt in range(1, tries + 1):
            self.before_request()
            try:
                response = self.client.get(self.mapping.path, params=params, stream=True)
            except PartnerAPIError as exc:
                # No answer at all (a name that does not resolve, a refused connection, a
                # timeout) is not retried here: the next scheduled sync tries again.
                if exc.status_code in RETRYABLE and attempt < tries:
                    self._wait(attempt, None)
                    continue
                raise SyncFailed(f"Page {number}: {exc}") from None
            with response:
                status = response.status_code
                if status == 200:
                    return self._json(response, number)
                if status in RETRYABLE:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait is not None and wait > settings.SYNC_RETRY_AFTER_MAX:
                        raise SyncFailed(
                            f"Page {number}: GET {self.where} answered {status} asking us to wait "
                            f"{wait:.0f} s (Retry-After); the next sync waits that long.",
                            retry_after=wait,
                        )
                    if attempt < tries:
                        self._wait(attempt, wait)
                        continue
                    raise SyncFailed(
                        f"Page {number}: GET {self.where} answered {status} {tries} times "
                        f"(last: {self._excerpt(response)})."
                    )
                if status in (401, 403):
                    raise SyncFailed(
                        f"GET {self.where} refused our {self.auth_type} credentials "
                        f"(HTTP {status}): {self._excerpt(response)}"
                    )
                raise SyncFailed(
                    f"Page {number}: GET {self.where} answered {status}: {self._excerpt(response)}"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        backoff = settings.SYNC_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
        time.sleep(max(backoff, retry_after or 0.0))

    def _body(self, response, number: int) -> bytes:
        cap = settings.SYNC_MAX_PAGE_BYTES
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            if size > cap:
                raise SyncFailed(f"Page {number} is larger than {cap} bytes (SYNC_MAX_PAGE_BYTES).")
            chunks.append(chunk)
        return b"".join(chunks)

    def _json(self, response, number: int):
        body = self._body(response, number)
        try:
            return strict_json_loads(body, allow_duplicate_keys=True)
        except (ValueError, RecursionError) as exc:
            kind = response.headers.get("Content-Type", "no Content-Type")
            text = body[:200].decode("utf-8", errors="replace")
            raise SyncFailed(f"Page {number} is not JSON ({kind}; {exc}): {text!r}") from None

    @staticmethod
    def _excerpt(response) -> str:
        try:
            text = next(response.iter_content(chunk_size=300), b"")
        except Exception:  # a broken body tells nothing more
            text = b""
        text = " ".join(text[:300].decode("utf-8", errors="replace").split())
        return text or "(empty body)"
